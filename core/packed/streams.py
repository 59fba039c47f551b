"""Decompressing readers: every read returns at most what it asks for, so memory stays
flat whatever the ratio, and `inflate` stops a stream that grows past its limit."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, cast

import zstandard

from ..errors import Cancelled, DamagedCompressedFile, DecompressionBomb, InvalidPath, UnsupportedArchive
from ..sizes import human_size
from .magic import Packing

CHUNK = 1 << 20
# zstd frames may ask for a window this big (zstd --long uses 128 MiB); more is refused.
ZSTD_MAX_WINDOW = 1 << 27
_DAMAGE = (OSError, EOFError, lzma.LZMAError, zlib.error, zstandard.ZstdError, zipfile.BadZipFile)
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}


def open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading, refused unless it is a regular file: O_NONBLOCK, so that
    a path swapped for a FIFO since it was checked cannot make us hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidPath(f"{path} cannot be opened: {exc.strerror}.") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InvalidPath(f"{path} is no longer a regular file.")
    return os.fdopen(fd, "rb")


def open_stream(source: BinaryIO, packing: Packing) -> BinaryIO:
    """The decompressed bytes of `source`; concatenated streams and frames are read as one,
    as `xz -d`, `gzip -d`, `bzip2 -d` and `zstd -d` do."""
    if packing == Packing.XZ:
        return cast(BinaryIO, lzma.LZMAFile(source))
    if packing == Packing.GZIP:
        return cast(BinaryIO, gzip.GzipFile(fileobj=source, mode="rb"))
    if packing == Packing.BZIP2:
        return cast(BinaryIO, bz2.BZ2File(source))
    if packing == Packing.ZSTD:
        dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        return cast(BinaryIO, dctx.stream_reader(source, read_across_frames=True, closefd=False))
    archive = zipfile.ZipFile(source)
    return cast(BinaryIO, archive.open(zip_image(archive)))


def zip_image(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one image in a zip archive; anything else is refused (this is no unpacker)."""
    files = [i for i in archive.infolist() if not i.is_dir()]
    if len(files) != 1:
        raise UnsupportedArchive(
            f"The zip archive holds {len(files)} files; Diskscope reads a zip that holds exactly "
            "one image, so unpack this one first."
        )
    info = files[0]
    if info.flag_bits & 0x1:
        raise UnsupportedArchive("The image in the zip archive is encrypted; unpack it first.")
    if info.compress_type not in _ZIP_METHODS:
        raise UnsupportedArchive(
            f"The image in the zip archive uses compression method {info.compress_type}, "
            "which Diskscope cannot read; unpack it first."
        )
    return info


@contextmanager
def reading(what: str, packing: Packing) -> Iterator[None]:
    """Damaged compressed data, whatever the library calls it, as one sentence."""
    try:
        yield
    except _DAMAGE as exc:
        if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, gzip.BadGzipFile):
            raise DamagedCompressedFile(f"{what} could not be read: {exc.strerror}.") from None
        raise DamagedCompressedFile(
            f"{what} is not a valid {packing.value} file: its compressed data is damaged or cut short."
        ) from None


def inflate(
    stream: BinaryIO,
    limit: int,
    why: str,
    consume: Callable[[bytes], None],
    cancel: threading.Event | None = None,
) -> int:
    """Feed every decompressed chunk to `consume`; DecompressionBomb as soon as the total
    passes `limit` (`why` says where the limit comes from). The total, at the end."""
    total = 0
    while block := stream.read(CHUNK):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The decompression was cancelled.")
        total += len(block)
        if total > limit:
            raise DecompressionBomb(
                f"The compressed file inflates past {human_size(limit)} ({limit:,} bytes), more "
                f"than {why}; decompression was stopped."
            )
        consume(block)
    return total
