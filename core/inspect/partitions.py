"""Raw disks that say what they hold: ISO 9660/UDF, GPT and MBR partition tables.

qemu opens all of them with its raw driver; we name them so that a user sees
what the disk is, and so that a second format hidden in them is noticed.
"""

from __future__ import annotations

import struct

from ..formats import ImageFormat
from .detection import Detection
from .verdict import Violation, ViolationCode
from .view import HeaderView

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


GPT_HEADER = 92
MBR_ENTRIES = 446
PROTECTIVE = 0xEE


def detect_gpt(view: HeaderView) -> Detection | None:
    head = view.head
    for sector in (512, 4096):
        if head[sector : sector + 8] != b"EFI PART":
            continue
        if len(head) < sector + GPT_HEADER:
            return Detection(ImageFormat.GPT, violations=(_truncated_gpt(sector, len(head)),))
        (entries,) = struct.unpack_from("<I", head, sector + 80)
        return Detection(
            ImageFormat.GPT,
            virtual_size=view.size,
            subformat=f"{sector}-byte sectors",
            details={"partition_entries": entries},
        )
    return None


def _truncated_gpt(sector: int, size: int) -> Violation:
    return Violation(
        ViolationCode.TRUNCATED,
        f"The file has the GPT signature at byte {sector} but is only {size} bytes long, "
        f"too short for its {GPT_HEADER}-byte header.",
    )


def detect_mbr(view: HeaderView) -> Detection | None:
    head = view.head
    if len(head) < 512 or head[510:512] != b"\x55\xaa":
        return None
    entries = _entries(head)
    if any(e[0] not in (0, 0x80) for e in entries):
        return None
    types = [e[4] for e in entries if e[4]]
    if not types:
        return None
    return Detection(
        ImageFormat.MBR,
        virtual_size=view.size,
        subformat="protective" if types == [PROTECTIVE] else None,
        details={"partition_types": types},
    )


def table_warnings(head: bytes) -> tuple[Violation, ...]:
    """What oslo.utils' GPTInspector refuses in a boot sector, as warnings: qemu opens the
    disk as raw whatever its partition table says, so none of this endangers the host."""
    if len(head) < 512 or head[510:512] != b"\x55\xaa" or _is_fat(head):
        return ()
    entries = _entries(head)
    warnings = [
        _warning(f"Partition entry {i + 1} of the MBR has an invalid boot flag ({e[0]:#04x}).")
        for i, e in enumerate(entries)
        if e[0] not in (0, 0x80)
    ]
    used = [i for i, e in enumerate(entries) if e[4]]
    for i in used:
        if entries[i][4] == PROTECTIVE:
            warnings += _protective_warnings(i, entries[i])
    if PROTECTIVE in (entries[i][4] for i in used) and used != [0]:
        warnings.append(_warning("The protective MBR of this GPT disk defines other partitions too."))
    if not used:
        warnings.append(_warning("The MBR has a boot signature but defines no partition."))
    return tuple(warnings)


def _entries(head: bytes) -> list[bytes]:
    return [head[MBR_ENTRIES + 16 * i : MBR_ENTRIES + 16 * (i + 1)] for i in range(4)]


def _is_fat(head: bytes) -> bool:
    """A FAT volume boot record has the MBR signature too (two FATs, fixed-disk media)."""
    return head[0x10] == 2 and head[0x15] == 0xF8


def _protective_warnings(i: int, entry: bytes) -> list[Violation]:
    (start_lba,) = struct.unpack_from("<I", entry, 8)
    warnings = []
    if entry[1:4] != b"\x00\x02\x00":
        warnings.append(_warning(f"The protective MBR entry {i + 1} does not start at CHS 0/0/2."))
    if start_lba != 1:
        warnings.append(_warning(f"The protective MBR entry {i + 1} starts at sector {start_lba}, not 1."))
    return warnings


def _warning(message: str) -> Violation:
    return Violation(ViolationCode.PARTITION_TABLE, message)
