"""Microsoft's formats: VHD (qemu's `vpc`: dynamic, fixed, differencing) and VHDX."""

from __future__ import annotations

import struct

from ..formats import ImageFormat
from .detection import Detection, implausible, truncated, violation
from .verdict import Violation, ViolationCode
from .view import HeaderView, Region

VPC_COOKIE = b"conectix"
VPC_FOOTER = 512
VPC_DISK_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}

VHDX_MAGIC = b"vhdxfile"
VHDX_REGION_TABLE = 192 * 1024
VHDX_MIN_SIZE = 320 * 1024  # two headers and two region tables


def _guid(text: str) -> bytes:
    """A GUID as VHDX stores it: the first three fields little-endian (uuid's `bytes_le`,
    without importing uuid, which costs every start-up a few milliseconds)."""
    raw = bytes.fromhex(text.replace("-", ""))
    return raw[3::-1] + raw[5:3:-1] + raw[7:5:-1] + raw[8:]


METADATA_REGION = _guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
FILE_PARAMETERS = _guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
VIRTUAL_DISK_SIZE = _guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
PARENT_LOCATOR = _guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
METADATA_TABLE = 64 * 1024
MAX_ENTRIES = 2047


def detect_vpc(view: HeaderView) -> Detection | None:
    """A dynamic VHD starts with a copy of its footer; a fixed one only has it at the end."""
    if view.head.startswith(VPC_COOKIE):
        if len(view.head) < VPC_FOOTER:
            return Detection(ImageFormat.VPC, violations=(truncated("VHD", VPC_FOOTER, len(view.head)),))
        return _vpc_from_footer(view, view.head[:VPC_FOOTER], at_start=True)
    footer = view.at_end(VPC_FOOTER)
    if footer is not None and footer.startswith(VPC_COOKIE) and view.size != VPC_FOOTER:
        return _vpc_from_footer(view, footer, at_start=False)
    return None


def _vpc_from_footer(view: HeaderView, footer: bytes, *, at_start: bool) -> Detection:
    (data_offset,) = struct.unpack_from(">Q", footer, 16)
    (current_size,) = struct.unpack_from(">Q", footer, 48)
    (disk_type,) = struct.unpack_from(">I", footer, 60)
    subformat = VPC_DISK_TYPES.get(disk_type)
    problems: list[Violation] = []
    details: dict[str, object] = {"creator": footer[28:32].decode("latin-1")}
    backing = None
    if subformat is None:
        problems.append(implausible(f"The VHD disk type {disk_type} does not exist."))
    elif subformat == "fixed" and at_start:
        problems.append(implausible("A fixed VHD cannot start with its footer."))
    elif subformat != "fixed":
        if not at_start:
            problems.append(implausible("A dynamic VHD must start with a copy of its footer."))
        dyn = view.read(data_offset, 1024) if data_offset < (1 << 40) else None
        if dyn is None or not dyn.startswith(b"cxsparse"):
            if view.size is not None or dyn is not None:
                problems.append(implausible("The VHD's dynamic header is missing."))
        else:
            (block_size,) = struct.unpack_from(">I", dyn, 32)
            details["block_size"] = block_size
            if subformat == "differencing":
                backing = dyn[64:576].decode("utf-16-be", "replace").rstrip("\0") or None
    if subformat == "differencing":
        problems.append(
            violation(
                ViolationCode.BACKING_FILE,
                f"This differencing VHD has a parent disk{f' ({backing!r})' if backing else ''}.",
            )
        )
    if current_size > (1 << 48):
        problems.append(implausible(f"The VHD size of {current_size} bytes is absurd."))
    problems += _check_checksum(footer)
    return Detection(
        ImageFormat.VPC,
        virtual_size=current_size,
        subformat=subformat,
        backing_file=backing,
        details=details,
        violations=tuple(problems),
    )


def _check_checksum(footer: bytes) -> list[Violation]:
    """qemu 7.2 refuses a footer whose checksum is wrong ("Incorrect header checksum"): the
    one's complement of the sum of its bytes, the checksum field counted as zeros."""
    (stored,) = struct.unpack_from(">I", footer, 64)
    computed = ~(sum(footer) - sum(footer[64:68])) & 0xFFFFFFFF
    if stored == computed:
        return []
    return [
        implausible(
            f"The VHD footer checksum is wrong ({stored:#010x} stored, {computed:#010x} computed), "
            "so qemu refuses the image."
        )
    ]


def wants_vhdx(view: HeaderView) -> list[Region]:
    """The metadata table, then the items in it that we read."""
    if not view.head.startswith(VHDX_MAGIC):
        return []
    meta = _metadata_region(view.head)
    if meta is None:
        return []
    table = view.read(meta, METADATA_TABLE)
    if table is None:
        return [Region(meta, METADATA_TABLE)]
    items = _metadata_items(table)
    return [
        Region(meta + offset, 8)
        for guid, (offset, _length) in items.items()
        if guid in (FILE_PARAMETERS, VIRTUAL_DISK_SIZE)
    ]


def detect_vhdx(view: HeaderView) -> Detection | None:
    if not view.head.startswith(VHDX_MAGIC):
        return None
    if view.size is not None and view.size < VHDX_MIN_SIZE:
        return Detection(ImageFormat.VHDX, violations=(truncated("VHDX", VHDX_MIN_SIZE, view.size),))
    fmt = ImageFormat.VHDX
    table_head = view.head[VHDX_REGION_TABLE : VHDX_REGION_TABLE + 16]
    if table_head[:4] != b"regi":
        return Detection(fmt, violations=(implausible("The VHDX region table is missing."),))
    (count,) = struct.unpack_from("<I", table_head, 8)
    if count > MAX_ENTRIES:
        return Detection(fmt, violations=(implausible(f"The VHDX has {count} regions."),))
    meta = _metadata_region(view.head)
    if meta is None:
        return Detection(fmt, violations=(implausible("The VHDX has no metadata region."),))
    table = view.read(meta, METADATA_TABLE)
    if table is None:
        if view.size is None:
            return Detection(fmt)  # the metadata lies ahead in the stream
        return Detection(fmt, violations=(implausible("The VHDX metadata lies past the end."),))
    if table[:8] != b"metadata":
        return Detection(fmt, violations=(implausible("The VHDX metadata table is damaged."),))
    items = _metadata_items(table)
    problems: list[Violation] = []
    has_parent = PARENT_LOCATOR in items
    params = _item(view, meta, items, FILE_PARAMETERS)
    block_size = None
    if params is not None:
        block_size, flags = struct.unpack("<II", params)
        has_parent = has_parent or bool(flags & 2)
    size_bytes = _item(view, meta, items, VIRTUAL_DISK_SIZE)
    virtual_size = struct.unpack("<Q", size_bytes)[0] if size_bytes else None
    if has_parent:
        problems.append(violation(ViolationCode.BACKING_FILE, "This differencing VHDX has a parent disk."))
    if virtual_size is not None and virtual_size > (1 << 46):
        problems.append(implausible(f"The VHDX size of {virtual_size} bytes is beyond 64 TiB."))
    return Detection(
        fmt,
        virtual_size=virtual_size,
        subformat="differencing" if has_parent else "dynamic",
        cluster_size=block_size,
        violations=tuple(problems),
    )


def _metadata_region(head: bytes) -> int | None:
    table = head[VHDX_REGION_TABLE : VHDX_REGION_TABLE + 16 + 32 * MAX_ENTRIES]
    if len(table) < 16 or table[:4] != b"regi":
        return None
    (count,) = struct.unpack_from("<I", table, 8)
    for i in range(min(count, MAX_ENTRIES)):
        entry = table[16 + 32 * i : 48 + 32 * i]
        if len(entry) < 32:
            break
        if entry[:16] == METADATA_REGION:
            offset: int = struct.unpack_from("<Q", entry, 16)[0]
            return offset
    return None


def _metadata_items(table: bytes) -> dict[bytes, tuple[int, int]]:
    if table[:8] != b"metadata":
        return {}
    (count,) = struct.unpack_from("<H", table, 10)
    items = {}
    for i in range(min(count, MAX_ENTRIES)):
        entry = table[32 + 32 * i : 64 + 32 * i]
        if len(entry) < 32:
            break
        offset, length = struct.unpack_from("<II", entry, 16)
        items[entry[:16]] = (offset, length)
    return items


def _item(view: HeaderView, meta: int, items: dict[bytes, tuple[int, int]], guid: bytes) -> bytes | None:
    if guid not in items:
        return None
    return view.read(meta + items[guid][0], 8)
