"""Decompressing a compressed image into a file of our own, sparse and bounded.

qemu-img 7.2 cannot read an image from a pipe ("'file' driver requires '/dev/stdin' to be
a regular file"), so a compressed source is inflated into the private folder first. Runs
of zeros are skipped rather than written, so the file is as sparse as the image was.
"""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

from ..errors import DiskscopeError, NotEnoughSpace, SourceChanged
from ..inspect.inspector import InspectionResult
from ..policy import InspectionPolicy
from ..progress import ProgressCallback, ProgressMeter
from ..sizes import human_size
from .magic import Packing
from .probe import PackedFacts
from .streams import CHUNK, inflate, open_regular, open_stream, reading

# Room for an image format's own metadata (tables, footers) beyond its virtual size.
METADATA_ALLOWANCE = 64 << 20
_ZEROS = bytes(CHUNK)


def inflate_limit(
    facts: PackedFacts, inner: InspectionResult, policy: InspectionPolicy, free: int
) -> tuple[int, str]:
    """How far the stream may inflate, and where that limit comes from (for the sentence)."""
    virtual = inner.virtual_size
    if not inner.format.is_raw_family and virtual is not None:
        return virtual + virtual // 8 + METADATA_ALLOWANCE, (
            f"the size the {inner.format.value} image inside declares ({human_size(virtual)} virtual)"
        )
    if facts.uncompressed_size is not None and facts.packing in (Packing.XZ, Packing.ZIP):
        return facts.uncompressed_size, f"the size the {facts.packing.value} file records"
    if policy.max_virtual_size is not None:
        return policy.max_virtual_size, "the largest virtual size your policy allows"
    return free, "the free space in the destination folder"


def inflate_file(
    source: Path,
    packing: Packing,
    folder_fd: int,
    name: str,
    limit: tuple[int, str],
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    total: int | None = None,
    expected: tuple[int, int, int] | None = None,
) -> int:
    """Write the decompressed stream of `source` to a new file `name` in `folder_fd`;
    the bytes written. DecompressionBomb past the limit. `expected`: the (st_dev, st_ino,
    st_ctime_ns) the file read must have, from before its headers were judged to after
    its last byte was read (SourceChanged otherwise)."""
    meter = ProgressMeter("decompressing", total, on_progress)
    meter.update(0, force=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    out = os.open(name, flags, 0o600, dir_fd=folder_fd)
    position = 0

    def write(block: bytes) -> None:
        nonlocal position
        try:
            if block != _ZEROS[: len(block)]:
                os.pwrite(out, block, position)
        except OSError as exc:
            raise _write_error(source, exc) from None
        position += len(block)
        meter.update(position)

    try:
        with open_regular(source) as f, reading(str(source), packing):
            _require_identity(source, os.fstat(f.fileno()), expected)
            size = inflate(open_stream(f, packing), limit[0], limit[1], write, cancel)
            _require_identity(source, os.fstat(f.fileno()), expected)  # not written to meanwhile
        os.ftruncate(out, size)
    except OSError as exc:
        raise _write_error(source, exc) from None
    finally:
        os.close(out)
    meter.update(size, force=True)
    return size


def _require_identity(source: Path, st: os.stat_result, expected: tuple[int, int, int] | None) -> None:
    if expected is not None and (st.st_dev, st.st_ino, st.st_ctime_ns) != expected:
        raise SourceChanged(f"{source} is no longer the file that was checked; nothing was kept.")


def _write_error(source: Path, exc: OSError) -> DiskscopeError:
    if exc.errno == errno.ENOSPC:
        return NotEnoughSpace(f"The destination filesystem filled up while {source} was decompressed.")
    return DiskscopeError(f"{source} could not be decompressed: {exc.strerror}.")
