"""The download's inspector: our StreamInspector on the bytes as they arrive, or, for a
compressed stream, on the image inside, decompressed from the first bytes up to
PROBE_LIMIT (then no further: the whole file is judged again once it is inflated)."""

from __future__ import annotations

from ..formats import ImageFormat
from ..inspect.inspector import InspectionResult, StreamInspector
from .magic import MAGIC_BYTES, Packing, packing_of
from .probe import PROBE_LIMIT
from .push import PushInflater


class PackedStreamInspector:
    """Fed like a StreamInspector, whatever the chunk sizes; `packing` is known after the
    first MAGIC_BYTES."""

    def __init__(self, declared: ImageFormat | None = None) -> None:
        self.declared = declared
        self._outer = StreamInspector(declared)
        self._early = bytearray()  # the first bytes, until they tell what the stream is
        self._decided = False
        self.packing: Packing | None = None
        self._inflater: PushInflater | None = None
        self._inner = StreamInspector(declared)  # the name `disk.qcow2.xz` declares what it holds
        self.inflated = 0

    @property
    def buffered(self) -> int:
        return len(self._early) + self._outer.buffered + self._inner.buffered

    def feed(self, data: bytes) -> None:
        if not self._decided:
            self._early += data
            if len(self._early) >= MAGIC_BYTES:
                self._decide()
            return
        self._route(data)

    def _decide(self) -> None:
        self._decided = True
        self.packing = packing_of(bytes(self._early[:MAGIC_BYTES]))
        if self.packing is not None:
            self._inflater = PushInflater(self.packing)
        early, self._early = bytes(self._early), bytearray()
        self._route(early)

    def _route(self, data: bytes) -> None:
        if self._inflater is None:
            self._outer.feed(data)
            return
        if self.inflated >= PROBE_LIMIT or self._inflater.ended or self._inner.early_result() is not None:
            return  # the headers are judged: the rest is the whole file's business
        out = self._inflater.feed(data, PROBE_LIMIT - self.inflated)
        self.inflated += len(out)
        self._inner.feed(out)

    def early_result(self) -> InspectionResult | None:
        if not self._decided:
            return None
        if self._inflater is None:
            return self._outer.early_result()
        return self._inner.early_result()

    def finish(self) -> InspectionResult:
        if not self._decided:
            self._decide()
        if self._inflater is None:
            return self._outer.finish()
        if self._inflater.at_end and self.inflated < PROBE_LIMIT:
            return self._inner.finish()  # the whole image inside was read
        return self._inner.early_result() or self._inner.result_so_far()
