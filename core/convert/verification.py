"""What a conversion checks of its output, and how much of it.

Every conversion checks the output's structure: our inspector and `qemu-img info`
(format, virtual size), and the allocation maps of source and output compared range
by range: the output may hold data only where the source does, and sampled blocks of
the source's data must read the same in the output. That costs a few qemu-img calls
and a few MiB read, whatever the disk's size. `Verification.FULL` adds `qemu-img
compare`, which reads every byte of both images: it takes longer than the conversion.
"""

from __future__ import annotations

import bisect
import errno
import os
import stat
from collections.abc import Sequence
from enum import StrEnum

from ..qemu.results import MapExtent

SAMPLES = 64  # blocks of the source's data compared byte for byte with the output
SAMPLE_BYTES = 64 * 1024
BLOCK = 4096  # the smallest unit a filesystem or qemu-img allocates
# The targets whose allocation qemu-img maps: 7.2 reports every range of a vhdx as data.
ALLOCATION_MAPPED = frozenset({"raw", "qcow2", "vmdk", "vdi", "vpc"})


class Verification(StrEnum):
    """How a conversion verifies its output (`--verify`)."""

    STRUCTURE = "structure"  # inspector, qemu-img info, allocation maps, sampled data
    FULL = "full"  # all of that, and qemu-img compare of every byte


def describe(level: Verification) -> str:
    """What `level` checks, in the words `--help`, the dialog and the job's details use."""
    if level == Verification.FULL:
        return (
            "everything the default checks, then qemu-img compare reads both images and compares "
            "every byte (it takes longer than the conversion itself)."
        )
    return (
        "our inspector and qemu-img info check the output's format and virtual size, its "
        "allocation map is compared with the source's range by range (data only where the source "
        f"has data), and {SAMPLES} blocks of {SAMPLE_BYTES // 1024} KiB spread over the source's data "
        "are compared byte for byte (a small fraction of the conversion's time)."
    )


def data_ranges(extents: Sequence[MapExtent], granularity: int) -> list[tuple[int, int]]:
    """The ranges holding data, widened to whole `granularity` blocks and merged."""
    merged: list[tuple[int, int]] = []
    for e in extents:
        if not e.data:
            continue
        start = e.start // granularity * granularity
        end = -(-(e.start + e.length) // granularity) * granularity
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def allocation_problem(
    source: Sequence[MapExtent], output: Sequence[MapExtent], size: int, granularity: int
) -> str | None:
    """Why the output's allocation map cannot be the source's converted, or None.

    A conversion writes no data where the source has none (a range of zeros in the
    source may become a hole, never the reverse), and maps the whole disk. The one
    exception is the first block: qemu-img writes it in every file it creates, so that
    O_DIRECT can probe the alignment.
    """
    covered = sum(e.length for e in output)
    if covered != size:
        return f"its allocation map covers {covered:,} bytes, not the disk's {size:,}."
    allowed = data_ranges([MapExtent(0, BLOCK, 0, True, False, True), *source], max(granularity, BLOCK))
    starts = [start for start, _ in allowed]
    for e in output:
        if not e.data:
            continue
        i = bisect.bisect_right(starts, e.start) - 1
        if i < 0 or e.start + e.length > allowed[i][1]:
            return f"it holds data at byte {e.start:,}, where the source holds none."
    return None


def _samples(extents: Sequence[MapExtent], count: int, length: int) -> list[tuple[int, int, int]]:
    """(guest offset, host offset, length) of up to `count` blocks spread evenly over the
    data that lies at a known place in the image file itself (not compressed, not in a
    backing file)."""
    readable = [e for e in extents if e.data and not e.zero and e.depth == 0 and e.offset is not None]
    total = sum(e.length for e in readable)
    if not total:
        return []
    count = min(count, -(-total // length))
    picks, position, i = [], 0, 0
    for n in range(count):
        target = n * total // count
        while position + readable[i].length <= target:
            position += readable[i].length
            i += 1
        e = readable[i]
        inside = (target - position) // BLOCK * BLOCK
        assert e.offset is not None
        picks.append((e.start + inside, e.offset + inside, min(length, e.length - inside)))
    return picks


def compare_samples(
    source_path: str,
    source: Sequence[MapExtent],
    output_path: str,
    output: Sequence[MapExtent],
    count: int = SAMPLES,
    length: int = SAMPLE_BYTES,
) -> tuple[int, str | None]:
    """How many sampled blocks of the source's data were compared with the output, and
    why one does not read the same there (None: all do).

    Both files are read directly where their maps place the data: no qemu-img process,
    and a few MiB read whatever the size. A block the output holds as zeros (a hole)
    must be zeros in the source. Blocks that either file does not store plainly
    (compressed, or in a backing file) are not sampled.
    """
    starts = [e.start for e in output]
    compared = 0
    fds = [_open_regular(path) for path in (source_path, output_path)]
    try:
        for guest, host, size in _samples(source, count, length):
            found = _output_bytes(fds[1], output, starts, guest, size)
            if found is None:
                continue
            compared += 1
            if found != os.pread(fds[0], size, host):
                return compared, f"the block at byte {guest:,} differs from the source."
    finally:
        for fd in fds:
            os.close(fd)
    return compared, None


def _open_regular(path: str) -> int:
    """`path` opened for reading; OSError unless it is a regular file (a FIFO put in its place
    must not block us)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOFOLLOW)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return fd


def _output_bytes(
    fd: int, output: Sequence[MapExtent], starts: list[int], guest: int, size: int
) -> bytes | None:
    """What the output holds at [guest, guest + size), when its map says (None: unknown)."""
    parts = []
    while size:
        i = bisect.bisect_right(starts, guest) - 1
        if i < 0:
            return None
        e = output[i]
        take = min(size, e.start + e.length - guest)
        if take <= 0:
            return None
        if not e.data and e.zero:
            parts.append(bytes(take))
        elif e.data and e.depth == 0 and e.offset is not None:
            parts.append(os.pread(fd, take, e.offset + guest - e.start))
        else:
            return None
        guest, size = guest + take, size - take
    return b"".join(parts)
