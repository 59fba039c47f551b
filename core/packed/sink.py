"""Decompressing a download in the same pass that hashes it: every block the download
hashes is also queued here, and a thread of its own (lzma, zlib, bz2 and zstd release the
GIL) inflates it into a private folder beside the destination while the network delivers
the next. Bounded like every other inflation: until the image inside has shown its
headers, by the free space; from then on by the size it declares (core/packed/inflate.py).
A plain download is let through untouched: nothing is written.
"""

from __future__ import annotations

import errno
import os
import queue
import threading
import zipfile
from pathlib import Path

from ..errors import DamagedCompressedFile, DecompressionBomb, DiskscopeError, NotEnoughSpace
from ..inspect.inspector import InspectionResult, StreamInspector
from ..placement import PrivateFolder
from ..policy import InspectionPolicy
from ..sizes import human_size
from .inflate import inflate_limit
from .magic import MAGIC_BYTES, Packing, packing_of
from .probe import PackedFacts
from .push import PushInflater
from .streams import CHUNK, open_regular, reading, zip_image

_ZEROS = bytes(CHUNK)
_RESTART = object()


class InflatingSink:
    """Fed the download's bytes in order (`feed`), told when the download starts over
    (`restart`); `finish` waits for the last byte and says what was made."""

    def __init__(self, folder: Path, policy: InspectionPolicy, free: int, depth: int = 8) -> None:
        self.folder, self.policy, self.free = folder, policy, free
        self.packing: Packing | None = None
        self.private: PrivateFolder | None = None
        self.name = "download.inflated"
        self.size = 0
        self.limit: tuple[int, str] = (free, "the free space in the destination folder")
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: DiskscopeError | None = None
        self._out: int | None = None
        self._start_over()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="diskscope-inflate", daemon=True)
        self._thread.start()

    # -- the download's side ------------------------------------------------------------------

    def feed(self, block: bytes) -> None:
        self._raise()
        self._queue.put(block)

    def restart(self) -> None:
        self._raise()
        self._queue.put(_RESTART)

    def finish(self, downloaded: Path) -> bool:
        """Wait for the last block; whether the download (now whole at `downloaded`) was
        compressed (then the image is `name` in `private`, `size` bytes).
        DamagedCompressedFile for a stream cut short, or a zip whose directory names
        another member than the one inflated."""
        self._stop()
        self._raise()
        if not self._decided and self._head:
            try:  # a download shorter than MAGIC_BYTES; the thread has ended, so this is safe
                self._decide()
            except OSError as exc:
                raise _write_error(exc) from None
        if self._inflater is None:
            return False
        if not self._inflater.at_end:
            raise DamagedCompressedFile(
                f"The download is not a valid {self.packing} stream: it ends before its end-of-stream marker."
            )
        if self.packing == Packing.ZIP:
            self._require_first_member(downloaded)
        assert self._out is not None
        os.ftruncate(self._out, self.size)
        return True

    def _require_first_member(self, downloaded: Path) -> None:
        """A zip is inflated from its first local header, as it arrives; zipfile, unzip and
        `info` read the member its central directory names. They must be the same member,
        or one archive would be two images (a second archive spliced after a first)."""
        with open_regular(downloaded) as f, reading(str(downloaded), Packing.ZIP):
            member = zip_image(zipfile.ZipFile(f))
        if (member.header_offset, member.file_size) != (0, self.size):
            raise DamagedCompressedFile(
                "The downloaded zip archive's directory names another file than the one it "
                "starts with; nothing was kept."
            )

    def check(self) -> str:
        return (
            f"{self.packing} stream: {self.size:,} bytes decompressed as it arrived, within {self.limit[1]}"
        )

    def close(self) -> None:
        """Stop the thread and remove what it made; idempotent."""
        self._stop()
        if self._out is not None:
            os.close(self._out)
            self._out = None
        if self.private is not None:
            self.private.remove()
            self.private = None

    def _stop(self) -> None:
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    # -- the thread's side ----------------------------------------------------------------------

    def _start_over(self) -> None:
        self._head = b""
        self._decided = False
        self._inflater: PushInflater | None = None
        self._inspector = StreamInspector()
        self._judged = False
        self.size = 0
        self.limit = (self.free, "the free space in the destination folder")
        if self._out is not None:
            os.ftruncate(self._out, 0)

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the download stops at its next feed
            try:
                if block is _RESTART:
                    self._start_over()
                else:
                    assert isinstance(block, bytes)
                    self._absorb(block)
            except DiskscopeError as exc:
                self._error = exc
            except OSError as exc:
                self._error = _write_error(exc)

    def _absorb(self, block: bytes) -> None:
        if self._inflater is None:
            if self._decided:
                return  # not compressed: nothing to do
            self._head += block
            if len(self._head) < MAGIC_BYTES:
                return
            self._decide()
            return
        self._inflate(block)

    def _decide(self) -> None:
        """What the first bytes (or all of a short download) show; a compressed stream is
        inflated from its first byte on."""
        self._decided = True
        self.packing = packing_of(self._head[:MAGIC_BYTES])
        if self.packing is None:
            return
        self._open()
        head, self._head = self._head, b""
        self._inflater = PushInflater(self.packing)
        self._inflate(head)

    def _inflate(self, block: bytes) -> None:
        assert self._inflater is not None
        piece = self._inflater.feed(block, CHUNK)
        while piece:
            self._write(piece)
            piece = self._inflater.feed(b"", CHUNK)

    def _open(self) -> None:
        if self.private is None:
            self.private = PrivateFolder(self.folder)
        if self._out is None:
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            self._out = os.open(self.name, flags, 0o600, dir_fd=self.private.fd)

    def _write(self, piece: bytes) -> None:
        self._within(self.size + len(piece))
        assert self._out is not None
        if piece != _ZEROS[: len(piece)]:
            os.pwrite(self._out, piece, self.size)
        self.size += len(piece)
        if not self._judged:
            self._inspector.feed(piece)
            early = self._inspector.early_result()
            if early is not None:
                self._judge(early)

    def _judge(self, inner: InspectionResult) -> None:
        """The limit the image inside sets, once its headers are in."""
        self._judged = True
        assert self.packing is not None
        facts = PackedFacts(self.packing, 0, None, self.size, complete=False)
        self.limit = inflate_limit(facts, inner, self.policy, self.free)
        self._within(self.size)

    def _within(self, size: int) -> None:
        if size > self.limit[0]:
            raise DecompressionBomb(
                f"The compressed download inflates past {human_size(self.limit[0])} "
                f"({self.limit[0]:,} bytes), more than {self.limit[1]}; decompression was stopped."
            )


def _write_error(exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace("The destination filesystem filled up while the download was decompressed.")
    return DiskscopeError(f"The download could not be decompressed: {exc.strerror}.")
