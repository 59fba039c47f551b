"""Decompressing bytes as they arrive (a download), bounded: `feed` returns at most the
room it is given, so a bomb costs no memory. Concatenated streams and frames are read as
one; a zip is read from its first local header (the one image a single-image zip holds)."""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from typing import Any

import zstandard

from ..errors import DamagedCompressedFile, UnsupportedArchive
from .magic import Packing
from .streams import ZSTD_MAX_WINDOW

_ZSTD_SLICE = 512  # a zstd frame inflates at most ~26000-fold: 512 bytes give < 16 MiB
_ZIP_HEADER = struct.Struct("<4sHHHHHIIIHH")
_ZIP_STORED, _ZIP_DEFLATED, _ZIP_BZIP2 = 0, 8, 12
_DAMAGE = (lzma.LZMAError, OSError, zlib.error, zstandard.ZstdError, EOFError, ValueError)


class PushInflater:
    def __init__(self, packing: Packing) -> None:
        self.packing = packing
        self._pending = b""  # input not yet handed to a decompressor
        self._stored_left: int | None = None  # a stored zip member's size, when its header says
        self._d: Any = None  # the current stream's decompressor; None between streams
        self._stored = False
        self._spill = b""  # output past the room of the last call (zstd slices), given next
        self.ended = False  # the last stream ended (a zip member ends the zip)
        self._streams = 0  # streams begun

    def feed(self, data: bytes, room: int) -> bytes:
        """Decompressed bytes of what arrived so far, at most `room` of them."""
        self._pending += data
        out = bytearray(self._spill[:room])
        self._spill = self._spill[room:]
        try:
            while len(out) < room and not self.ended:
                if self._d is None and not self._stored and not self._start():
                    break
                if self._d is not None and self._d.eof:
                    self._next_stream()
                    continue
                if not self._has_input():
                    break
                take = room - len(out)
                piece = self._step(take)
                out += piece[:take]
                self._spill = piece[take:]  # only a zstd slice overshoots; the room is full then
        except _DAMAGE:
            raise DamagedCompressedFile(
                f"The download is not a valid {self.packing.value} stream: its compressed data is damaged."
            ) from None
        return bytes(out)

    @property
    def at_end(self) -> bool:
        """Whether what arrived so far is whole: the last stream ended, nothing follows but
        padding. (More streams may still come; this says the input may stop here.)"""
        if self.ended:
            return True
        return self._d is None and not self._stored and self._streams > 0 and not self._pending.strip(b"\0")

    def _start(self) -> bool:
        """A decompressor for the next stream, once its first bytes are here."""
        if self.packing == Packing.ZIP:
            return self._zip_start()
        if self.packing == Packing.XZ:
            self._pending = self._pending.lstrip(b"\0")  # stream padding
        if not self._pending:
            return False
        self._streams += 1
        if self.packing == Packing.XZ:
            self._d = lzma.LZMADecompressor()
        elif self.packing == Packing.GZIP:
            self._d = zlib.decompressobj(wbits=31)
        elif self.packing == Packing.BZIP2:
            self._d = bz2.BZ2Decompressor()
        else:
            self._d = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW).decompressobj()
        return True

    def _next_stream(self) -> None:
        self._pending = self._d.unused_data + self._pending
        self._d = None
        self.ended = self.packing == Packing.ZIP

    def _has_input(self) -> bool:
        if isinstance(self._d, lzma.LZMADecompressor | bz2.BZ2Decompressor):
            return bool(self._pending) or not self._d.needs_input
        return bool(self._pending)

    def _step(self, room: int) -> bytes:
        d, pending = self._d, self._pending
        if self._stored:
            if self._stored_left is not None:
                room = min(room, self._stored_left)
                self._stored_left -= min(room, len(pending))
                self.ended = self._stored_left == 0
            self._pending = pending[room:]
            return pending[:room]
        if isinstance(d, lzma.LZMADecompressor | bz2.BZ2Decompressor):
            self._pending = b""  # the decompressor keeps what it could not use yet
            return bytes(d.decompress(pending, max_length=room))
        if self.packing == Packing.ZSTD:
            self._pending = pending[_ZSTD_SLICE:]
            return bytes(d.decompress(pending[:_ZSTD_SLICE]))
        piece = d.decompress(pending, room)
        self._pending = d.unconsumed_tail
        return bytes(piece)

    def _zip_start(self) -> bool:
        """Skip the first local file header once it has all arrived."""
        if len(self._pending) < _ZIP_HEADER.size:
            return False
        fields = _ZIP_HEADER.unpack_from(self._pending)
        flags, method, size, name_len, extra_len = fields[2], fields[3], fields[7], fields[9], fields[10]
        start = _ZIP_HEADER.size + name_len + extra_len
        if len(self._pending) < start:
            return False
        if flags & 0x1:
            raise UnsupportedArchive("The image in the zip archive is encrypted; unpack it first.")
        if method not in (_ZIP_STORED, _ZIP_DEFLATED, _ZIP_BZIP2):
            raise UnsupportedArchive(
                f"The image in the zip archive uses compression method {method}, which Diskscope "
                "cannot read as it downloads; unpack it first."
            )
        self._pending = self._pending[start:]
        self._stored = method == _ZIP_STORED
        if self._stored and not flags & 0x8:  # bit 3: the sizes follow the data instead
            self._stored_left = size
        if method == _ZIP_DEFLATED:
            self._d = zlib.decompressobj(wbits=-15)
        elif method == _ZIP_BZIP2:
            self._d = bz2.BZ2Decompressor()
        return True
