"""Raw disks that say what they hold: ISO 9660/UDF, GPT and MBR partition tables.

qemu opens all of them with its raw driver; we name them so that a user sees
what the disk is, and so that a second format hidden in them is noticed.
"""

from __future__ import annotations

import struct

from diskscope.core.formats import ImageFormat
from diskscope.core.inspect.detection import Detection
from diskscope.core.inspect.view import HeaderView

ISO_START = 32768
ISO_SECTOR = 2048
ISO_IDENTIFIERS = {b"CD001", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2", b"CDW02"}


def detect_iso(view: HeaderView) -> Detection | None:
    head = view.head
    found = []
    for i in range(16):
        start = ISO_START + ISO_SECTOR * i
        ident = head[start + 1 : start + 6]
        if ident not in ISO_IDENTIFIERS:
            break
        found.append(ident)
    if not found:
        return None
    subformat = "udf" if {b"NSR02", b"NSR03"} & set(found) else "iso9660"
    size = view.size
    if found[0] == b"CD001" and len(head) >= ISO_START + 130:
        (blocks,) = struct.unpack_from("<I", head, ISO_START + 80)
        (block_size,) = struct.unpack_from("<H", head, ISO_START + 128)
        size = blocks * block_size or size
    return Detection(ImageFormat.ISO, virtual_size=size, subformat=subformat)


def detect_gpt(view: HeaderView) -> Detection | None:
    for sector in (512, 4096):
        if view.head[sector : sector + 8] == b"EFI PART":
            (entries,) = struct.unpack_from("<I", view.head, sector + 80)
            return Detection(
                ImageFormat.GPT,
                virtual_size=view.size,
                subformat=f"{sector}-byte sectors",
                details={"partition_entries": entries},
            )
    return None


def detect_mbr(view: HeaderView) -> Detection | None:
    head = view.head
    if len(head) < 512 or head[510:512] != b"\x55\xaa":
        return None
    entries = [head[446 + 16 * i : 462 + 16 * i] for i in range(4)]
    if any(e[0] not in (0, 0x80) for e in entries):
        return None
    types = [e[4] for e in entries if e[4]]
    if not types:
        return None
    return Detection(
        ImageFormat.MBR,
        virtual_size=view.size,
        subformat="protective" if types == [0xEE] else None,
        details={"partition_types": types},
    )
