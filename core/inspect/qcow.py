"""qcow2 (v2, v3) and the obsolete qcow v1, from their big-endian headers."""

from __future__ import annotations

import struct

from ..formats import ImageFormat
from .detection import Detection, implausible, truncated, violation
from .verdict import Violation, ViolationCode
from .view import HeaderView, Region

MAGIC = b"QFI\xfb"
V2_HEADER = 72
V3_HEADER = 104

# Incompatible feature bits (qcow2 spec): the ones we know and accept, and the
# data-file bit, which we know and refuse.
DIRTY, CORRUPT, DATA_FILE, COMPRESSION, EXTENDED_L2 = (1 << b for b in range(5))
KNOWN_INCOMPATIBLE = DIRTY | CORRUPT | DATA_FILE | COMPRESSION | EXTENDED_L2
AUTOCLEAR_DATA_FILE_RAW = 2
CRYPT_AES = 1

EXT_END = 0
EXT_BACKING_FORMAT = 0xE2792ACA
EXT_BITMAPS = 0x23852875
EXT_DATA_FILE = 0x44415441

MAX_L1_BYTES = 32 * 1024 * 1024  # qemu's QCOW_MAX_L1_SIZE
MAX_REFTABLE_BYTES = 8 * 1024 * 1024  # qemu's QCOW_MAX_REFTABLE_SIZE
MAX_SNAPSHOTS = 65536
MAX_VIRTUAL_SIZE = 1 << 61
MAX_NAME = 1023


def wants(view: HeaderView) -> list[Region]:
    """The backing file name, when it lies beyond the head."""
    head = view.head
    if not head.startswith(MAGIC) or len(head) < 20:
        return []
    offset, length = struct.unpack_from(">QI", head, 8)
    if offset and 0 < length <= MAX_NAME:
        return [Region(offset, length)]
    return []


def detect(view: HeaderView) -> Detection | None:
    head = view.head
    if not head.startswith(MAGIC):
        return None
    if len(head) < 8:
        return Detection(ImageFormat.QCOW2, violations=(truncated("qcow2", V2_HEADER, len(head)),))
    (version,) = struct.unpack_from(">I", head, 4)
    if version == 1:
        return _detect_qcow1(view)
    return _detect_qcow2(view, version)


def _detect_qcow1(view: HeaderView) -> Detection:
    head = view.head
    problems = [violation(ViolationCode.BANNED_FORMAT, "qcow version 1 is obsolete and not accepted.")]
    if len(head) < 48:
        problems.append(truncated("qcow", 48, len(head)))
        return Detection(ImageFormat.QCOW, violations=tuple(problems))
    bf_offset, bf_size, _mtime, size, cluster_bits = struct.unpack_from(">QIIQB", head, 8)
    backing = None
    if bf_offset:
        backing = _name(view, bf_offset, bf_size)
        problems.append(_backing_violation(backing))
    return Detection(
        ImageFormat.QCOW,
        virtual_size=size,
        cluster_size=1 << cluster_bits if cluster_bits < 32 else None,
        backing_file=backing,
        violations=tuple(problems),
    )


def _detect_qcow2(view: HeaderView, version: int) -> Detection:
    head = view.head
    fmt = ImageFormat.QCOW2
    if version not in (2, 3):
        return Detection(
            fmt,
            violations=(implausible(f"The qcow2 header has version {version}, which does not exist."),),
        )
    needed = V2_HEADER if version == 2 else V3_HEADER
    if len(head) < needed:
        return Detection(fmt, violations=(truncated("qcow2", needed, len(head)),))

    (
        bf_offset, bf_size, cluster_bits, size, crypt_method, l1_size, l1_offset,
        rt_offset, rt_clusters, nb_snapshots, snapshots_offset,
    ) = struct.unpack_from(">QIIQIIQQIIQ", head, 8)  # fmt: skip
    incompatible = compatible = autoclear = 0
    refcount_order, header_length, compression = 4, V2_HEADER, 0
    if version == 3:
        incompatible, compatible, autoclear, refcount_order, header_length = struct.unpack_from(
            ">QQQII", head, 72
        )
        if header_length > V3_HEADER and len(head) > V3_HEADER:
            compression = head[V3_HEADER]

    problems: list[Violation] = []
    details: dict[str, object] = {
        "version": version,
        "compat": "0.10" if version == 2 else "1.1",
        "incompatible_features": incompatible,
        "compatible_features": compatible,
        "autoclear_features": autoclear,
        "lazy_refcounts": bool(compatible & 1),
        "refcount_bits": 1 << refcount_order if refcount_order < 7 else None,
        "compression_type": {0: "zlib", 1: "zstd"}.get(compression, f"unknown ({compression})"),
        "extended_l2": bool(incompatible & EXTENDED_L2),
        "dirty": bool(incompatible & DIRTY),
        "corrupt": bool(incompatible & CORRUPT),
        "snapshot_count": nb_snapshots,
        "encryption": {0: None, 1: "aes", 2: "luks"}.get(crypt_method, f"unknown ({crypt_method})"),
    }

    cluster_size = 1 << cluster_bits if 9 <= cluster_bits <= 21 else None
    if cluster_size is None:
        problems.append(
            implausible(f"The qcow2 cluster size of 2^{cluster_bits} bytes is outside 512 B to 2 MiB.")
        )
    problems += _check_limits(
        size,
        l1_size,
        nb_snapshots,
        rt_clusters,
        cluster_size,
        refcount_order,
        version,
        header_length,
        crypt_method,
    )
    if cluster_size is not None and view.size is not None:
        problems += _check_tables(
            view.size,
            cluster_size,
            l1_size,
            l1_offset,
            rt_offset,
            rt_clusters,
            nb_snapshots,
            snapshots_offset,
        )

    backing = None
    if bf_offset:
        backing = _name(view, bf_offset, bf_size)
        problems.append(_backing_violation(backing))

    unknown = incompatible & ~KNOWN_INCOMPATIBLE
    if unknown:
        problems.append(
            violation(
                ViolationCode.UNKNOWN_FEATURES,
                f"The image needs qcow2 features we do not know (incompatible bits {unknown:#x}).",
            )
        )
    if crypt_method == CRYPT_AES:
        problems.append(
            violation(
                ViolationCode.LEGACY_ENCRYPTION,
                "The image uses qcow2's old AES encryption, which QEMU's emulators refuse to run.",
            )
        )
    if incompatible & CORRUPT:
        problems.append(violation(ViolationCode.CORRUPT, "qemu has marked this qcow2 image as corrupt."))
    if compression > 1 or (compression and not incompatible & COMPRESSION):
        problems.append(implausible(f"The qcow2 compression type {compression} is unknown or not flagged."))

    extensions, ext_problems = _read_extensions(
        head, header_length if version == 3 else V2_HEADER, cluster_size or 65536
    )
    problems += ext_problems
    data_file = None
    if EXT_DATA_FILE in extensions:
        data_file = extensions[EXT_DATA_FILE].decode("utf-8", "replace")
    if incompatible & DATA_FILE or data_file is not None:
        problems.append(
            violation(
                ViolationCode.DATA_FILE,
                _data_file_message(data_file),
            )
        )
        details["data_file_raw"] = bool(autoclear & AUTOCLEAR_DATA_FILE_RAW)
    if EXT_BACKING_FORMAT in extensions:
        details["backing_format"] = extensions[EXT_BACKING_FORMAT].decode("ascii", "replace")
    details["bitmaps_extension"] = EXT_BITMAPS in extensions

    return Detection(
        fmt,
        virtual_size=size,
        subformat=str(details["compat"]),
        cluster_size=cluster_size,
        backing_file=backing,
        data_file=data_file,
        encrypted=crypt_method != 0,
        details=details,
        violations=tuple(problems),
    )


def _check_limits(
    size: int, l1_size: int, nb_snapshots: int, rt_clusters: int, cluster_size: int | None,
    refcount_order: int, version: int, header_length: int, crypt_method: int,
) -> list[Violation]:  # fmt: skip
    problems = []
    if size > MAX_VIRTUAL_SIZE:
        problems.append(implausible(f"The qcow2 virtual size of {size} bytes is absurd."))
    if l1_size * 8 > MAX_L1_BYTES:
        problems.append(implausible(f"The qcow2 L1 table of {l1_size} entries is larger than qemu allows."))
    if cluster_size is not None:
        l2_entries = cluster_size // 8
        needed_l1 = -(-size // (cluster_size * l2_entries))
        if l1_size < needed_l1:
            problems.append(implausible("The qcow2 L1 table is too small for the virtual size."))
        if rt_clusters * cluster_size > MAX_REFTABLE_BYTES:
            problems.append(implausible("The qcow2 refcount table is larger than qemu allows."))
        if version == 3 and not V3_HEADER <= header_length <= cluster_size:
            problems.append(implausible(f"The qcow2 header length {header_length} is impossible."))
    if nb_snapshots > MAX_SNAPSHOTS:
        problems.append(
            implausible(f"The qcow2 header claims {nb_snapshots} snapshots, more than qemu allows.")
        )
    if refcount_order > 6:
        problems.append(implausible(f"The qcow2 refcount order {refcount_order} is out of range."))
    if crypt_method > 2:
        problems.append(implausible(f"The qcow2 encryption method {crypt_method} is unknown."))
    return problems


def _check_tables(
    file_size: int, cluster_size: int, l1_size: int, l1_offset: int, rt_offset: int,
    rt_clusters: int, nb_snapshots: int, snapshots_offset: int,
) -> list[Violation]:  # fmt: skip
    problems = []
    tables = [("refcount table", rt_offset, rt_clusters * cluster_size)]
    if l1_size:
        tables.append(("L1 table", l1_offset, l1_size * 8))
    if nb_snapshots:
        tables.append(("snapshot table", snapshots_offset, 1))
    for name, offset, length in tables:
        if offset % cluster_size:
            problems.append(implausible(f"The qcow2 {name} offset {offset} is not cluster-aligned."))
        elif offset + length > file_size:
            problems.append(implausible(f"The qcow2 {name} lies past the end of the file."))
    if rt_clusters == 0:
        problems.append(implausible("The qcow2 image has no refcount table."))
    return problems


def _read_extensions(head: bytes, start: int, cluster_size: int) -> tuple[dict[int, bytes], list[Violation]]:
    """Header extensions between the header and the end of cluster 0."""
    extensions: dict[int, bytes] = {}
    offset, limit = start, min(cluster_size, len(head))
    while offset + 8 <= limit:
        ext_type, length = struct.unpack_from(">II", head, offset)
        if ext_type == EXT_END:
            return extensions, []
        offset += 8
        if offset + length > limit:
            return extensions, [implausible("A qcow2 header extension runs past the first cluster.")]
        extensions[ext_type] = head[offset : offset + length]
        offset += (length + 7) & ~7
    if limit < cluster_size:
        # The head was cut off (a short file): absence of an end marker proves nothing more.
        return extensions, []
    return extensions, [implausible("The qcow2 header extensions have no end marker.")]


def _data_file_message(name: str | None) -> str:
    where = f" ({name!r})" if name else ""
    return f"The image keeps its data in an external file{where}, which could be any host file."


def _name(view: HeaderView, offset: int, length: int) -> str | None:
    if not 0 < length <= MAX_NAME:
        return None
    data = view.read(offset, length)
    return None if data is None else data.decode("utf-8", "replace")


def _backing_violation(name: str | None) -> Violation:
    where = f" ({name!r})" if name else ""
    return violation(
        ViolationCode.BACKING_FILE,
        f"The image has a backing file{where}, which qemu would open from this host.",
    )
