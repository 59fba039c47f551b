"""The bytes the inspector holds of a file: its head, a few requested regions, its tail.

The same `HeaderView` is built from a local file (by seeking) or from a stream
(by keeping the bytes as they pass), so both give the same verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

HEAD_SIZE = 2 * 1024 * 1024 + 4096  # a whole 2 MiB qcow2 cluster 0, a 1 MiB VMDK descriptor
TAIL_SIZE = 1536  # a streamOptimized VMDK footer plus end-of-stream marker
MAX_REGION = 64 * 1024
MAX_REGIONS = 8


@dataclass(frozen=True, order=True)
class Region:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True)
class HeaderView:
    head: bytes
    regions: Mapping[Region, bytes] = field(default_factory=dict)
    tail: bytes = b""
    size: int | None = None  # known once the whole file or stream has been seen

    def read(self, offset: int, length: int) -> bytes | None:
        """The bytes at `offset` if we hold all of them, else None."""
        if offset < 0 or length < 0:
            return None
        end = offset + length
        if end <= len(self.head):
            return self.head[offset:end]
        for region, data in self.regions.items():
            if region.offset <= offset and end <= region.offset + len(data):
                start = offset - region.offset
                return data[start : start + length]
        if self.size is not None and len(self.tail) and offset >= self.size - len(self.tail):
            start = offset - (self.size - len(self.tail))
            if end <= self.size:
                return self.tail[start : start + length]
        return None

    def at_end(self, length: int) -> bytes | None:
        """The last `length` bytes of the file, once its size is known."""
        if self.size is None or length > len(self.tail) or self.size < length:
            return None
        return self.tail[len(self.tail) - length :]


Wants = Callable[[HeaderView], Iterable[Region]]


def _clip(regions: Iterable[Region], held: Mapping[Region, bytes]) -> list[Region]:
    new = sorted({Region(r.offset, min(r.length, MAX_REGION)) for r in regions} - held.keys())
    return [r for r in new if r.offset >= 0 and r.length > 0]


def read_file_view(fd: int, size: int, wants: Wants, base: int = 0) -> HeaderView:
    """Build the view of an open local file, reading only what the analyzers ask for;
    `base`: the view is of the `size` bytes from there (a disk inside an OVA's tar)."""
    import os

    head = os.pread(fd, min(HEAD_SIZE, size), base)
    tail_len = min(TAIL_SIZE, size)
    tail = os.pread(fd, tail_len, base + size - tail_len) if tail_len else b""
    regions: dict[Region, bytes] = {}
    view = HeaderView(head, regions, tail, size)
    for _ in range(MAX_REGIONS):
        pending = [r for r in _clip(wants(view), regions) if r.offset >= len(head)]
        if not pending:
            break
        for region in pending[: MAX_REGIONS - len(regions)]:
            data = os.pread(fd, region.length, base + region.offset) if region.end <= size else b""
            if len(data) == region.length:
                regions[region] = data
        view = HeaderView(head, dict(regions), tail, size)
    return view


class StreamCollector:
    """Keeps the bytes of a stream that the analyzers need, in bounded memory.

    Chunks are absorbed piece by piece, stopping at every point where a region
    completes, so that the regions asked for next do not depend on how the
    stream happened to be cut into chunks.
    """

    def __init__(self, wants: Wants) -> None:
        self._wants = wants
        self._head = bytearray()
        self._pending: dict[Region, bytearray] = {}
        self._done: dict[Region, bytes] = {}
        self._tail = b""
        self._missed: set[Region] = set()  # asked for after the stream had passed them
        self._head_settled = False
        self.position = 0

    @property
    def buffered(self) -> int:
        """Bytes held: the inspector's whole memory footprint."""
        return (
            len(self._head)
            + sum(len(b) for b in self._pending.values())
            + sum(len(b) for b in self._done.values())
            + len(self._tail)
        )

    @property
    def settled(self) -> bool:
        """True once the head is complete and no requested region is still to come."""
        return len(self._head) >= HEAD_SIZE and not self._pending

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            take = min(len(view), self._next_boundary() - self.position)
            piece = view[:take]
            self._absorb(piece)
            self.position += take
            view = view[take:]
            self._settle_completed()
        if len(data) >= TAIL_SIZE:
            self._tail = bytes(data[-TAIL_SIZE:])
        else:
            self._tail = (self._tail + bytes(data))[-TAIL_SIZE:]

    def view(self, *, finished: bool) -> HeaderView:
        return HeaderView(
            bytes(self._head),
            dict(self._done),
            self._tail if finished else b"",
            self.position if finished else None,
        )

    def _next_boundary(self) -> int:
        ends = [r.end for r in self._pending]
        if len(self._head) < HEAD_SIZE:
            ends.append(HEAD_SIZE)
        future = [e for e in ends if e > self.position]
        return min(future) if future else 1 << 62

    def _absorb(self, piece: memoryview) -> None:
        start, end = self.position, self.position + len(piece)
        if start < HEAD_SIZE:
            self._head += piece[: HEAD_SIZE - start]
        for region, buf in self._pending.items():
            lo, hi = max(start, region.offset), min(end, region.end)
            if lo < hi:
                buf += piece[lo - start : hi - start]

    def _settle_completed(self) -> None:
        if len(self._head) < HEAD_SIZE:
            return
        completed = [r for r in self._pending if r.end <= self.position]
        if self._head_settled and not completed:
            return
        self._head_settled = True
        for region in completed:
            self._done[region] = bytes(self._pending.pop(region))
        self._request_more()

    def _request_more(self) -> None:
        held = {
            **self._done,
            **dict.fromkeys(self._pending, b""),
            **dict.fromkeys(self._missed, b""),
        }
        for region in _clip(self._wants(self.view(finished=False)), held):
            if region.end <= HEAD_SIZE:
                continue
            if len(self._done) + len(self._pending) >= MAX_REGIONS:
                break
            if region.offset < self.position:
                self._missed.add(region)  # already streamed past: analyzers see it as absent
            else:
                self._pending[region] = bytearray()
