"""The image inside a compressed file, judged from the first MiB of its decompressed
stream: our inspector's verdict on its headers, without writing a byte to disk."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import PurePath
from typing import BinaryIO

from ..formats import ImageFormat, format_from_extension
from ..inspect.inspector import InspectionResult, StreamInspector, check_regular_file
from ..inspect.verdict import Violation, ViolationCode
from ..sizes import human_size
from .magic import Packing, packing_of
from .recorded import recorded_size
from .streams import CHUNK, open_regular, open_stream, reading

# Headers normally sit in the first 2 MiB; a qcow2 grown since it was made may keep its
# tables further in. Past this much, the verdict is on what arrived.
PROBE_LIMIT = 64 << 20
_SUFFIXES = {".xz", ".gz", ".bz2", ".zst", ".zip"}


@dataclass(frozen=True)
class PackedFacts:
    """How an image is compressed, and how much of it was read to judge it."""

    packing: Packing
    compressed_size: int
    # Counted when the whole stream was read, else as the format records it (xz, zip, zstd).
    uncompressed_size: int | None
    inflated: int  # decompressed bytes our inspector read
    complete: bool  # the whole stream was read (a small image)
    settled: bool = True  # every header region arrived within PROBE_LIMIT
    identity: tuple[int, int, int] = (0, 0, 0)  # the file read: st_dev, st_ino, st_ctime_ns

    def unread(self) -> tuple[Violation, ...]:
        """A refusal for a verdict that could not see every header (see PROBE_LIMIT)."""
        if self.settled:
            return ()
        return (
            Violation(
                ViolationCode.IMPLAUSIBLE_HEADER,
                f"The image's headers point past the first {human_size(PROBE_LIMIT)} of its "
                "decompressed stream; decompress it to inspect it fully.",
            ),
        )

    def to_json(self) -> dict[str, object]:
        return {
            "compression": self.packing.value,
            "compressed_size": self.compressed_size,
            "uncompressed_size": self.uncompressed_size,
            "inspected_bytes": self.inflated,
            "whole_stream_read": self.complete,
        }


def inner_declared(path: PurePath) -> ImageFormat | None:
    """The format `disk.qcow2.xz` declares for what it holds."""
    if path.suffix.lower() in _SUFFIXES:
        return format_from_extension(path.with_suffix(""))
    return None


def unpacked_name(name: str) -> str:
    """`disk.qcow2.xz` without its compression suffix: the name of what it holds."""
    stem, suffix = os.path.splitext(name)
    return stem if suffix.lower() in _SUFFIXES and stem else name


def probe_packed(
    path: str | os.PathLike[str], declared: ImageFormat | None = None
) -> tuple[PackedFacts, InspectionResult] | None:
    """The compression and the verdict on the image inside; None when `path` is not compressed."""
    given = check_regular_file(path)
    with open_regular(given) as f:
        st = os.fstat(f.fileno())
        packing = packing_of(os.pread(f.fileno(), 1024, 0))
        if packing is None:
            return None
        recorded = recorded_size(f.fileno(), st.st_size, packing)
        if declared is None:
            declared = inner_declared(given)
        with reading(str(given), packing):
            stream = open_stream(f, packing)
            inflated, complete, settled, result = _judge(stream, declared)
    known = inflated if complete else recorded  # a stream read to its end is counted
    identity = (st.st_dev, st.st_ino, st.st_ctime_ns)
    facts = PackedFacts(packing, st.st_size, known, inflated, complete, settled, identity)
    return facts, _with_sizes(result, facts)


def _judge(stream: BinaryIO, declared: ImageFormat | None) -> tuple[int, bool, bool, InspectionResult]:
    """(bytes inflated, whole stream read, every header seen, verdict)."""
    inspector = StreamInspector(declared)
    inflated = 0
    while inflated < PROBE_LIMIT:
        block = stream.read(CHUNK)
        if not block:
            return inflated, True, True, inspector.finish()
        inflated += len(block)
        inspector.feed(block)
        early = inspector.early_result()
        if early is not None:
            return inflated, False, True, early
    return inflated, False, False, inspector.result_so_far()


def _with_sizes(result: InspectionResult, facts: PackedFacts) -> InspectionResult:
    """A raw image's virtual size is its length: known once the stream ended, or recorded
    where the format checks the data against its record (xz, zip). zstd's is only its
    first frame's: a second frame may follow, so it is shown, never taken for the disk's."""
    size = facts.uncompressed_size
    checked = facts.complete or facts.packing in (Packing.XZ, Packing.ZIP)
    if result.format.is_raw_family and result.virtual_size is None and checked:
        result = replace(result, virtual_size=size)
    return replace(result, file_size=size)
