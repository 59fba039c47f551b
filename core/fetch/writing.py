"""Where a download's bytes go: the one seam between receiving and the `.part`.

Blocks are written at their offset; an all-zero block is not written at all, so the
file keeps a hole there and a raw image lands as sparse as its source (the `.part` of
a raw image becomes the output itself, with no second pass). While the download goes
on, a second thread pushes what was written to the disk (fdatasync every
FLUSH_BYTES), so that the final fsync, which makes the download durable, finds little
left to write: the disk works while the network does.
"""

from __future__ import annotations

import os
import threading

from .partfiles import write_all

FLUSH_BYTES = 64 << 20
_ZEROS = bytes(1 << 20)


def all_zero(block: bytes) -> bool:
    """Whether `block` holds only zero bytes; fast for data (its ends are seldom both zero)."""
    if not block or block[0] or block[-1]:
        return not block
    return block == (_ZEROS if len(block) == len(_ZEROS) else bytes(len(block)))


class PartWriter:
    """Writes one attempt's blocks into the open `.part`; use as a context manager.

    An OSError of the background flush (ENOSPC, EIO) is raised by the next `write` or by
    `finish`: a failed write-back is reported once per file, so it must not be lost.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.end = os.fstat(fd).st_size  # what the file holds; holes past it are not yet made
        self._unflushed = 0
        self._error: OSError | None = None
        self._wanted = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._flush, name="diskscope-flush", daemon=True)

    def __enter__(self) -> PartWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = True
        self._wanted.set()
        self._thread.join()

    def write(self, block: bytes, offset: int) -> None:
        self._raise_flush_error()
        if all_zero(block):
            return
        write_all(self.fd, block, offset)
        self.end = max(self.end, offset + len(block))
        self._unflushed += len(block)
        if self._unflushed >= FLUSH_BYTES:
            self._unflushed = 0
            self._wanted.set()

    def finish(self, size: int) -> None:
        """The whole body is written: the file is `size` bytes long, its zero tail a hole."""
        self._raise_flush_error()
        if self.end < size:
            os.ftruncate(self.fd, size)
            self.end = size

    def _raise_flush_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _flush(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            if self._stop:
                return
            try:
                os.fdatasync(self.fd)
            except OSError as exc:
                self._error = exc
                return
