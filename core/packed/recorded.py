"""The uncompressed size a compressed file records, where its format records one.

xz records every block's size in the index at the end of each stream (and `lzma` checks
the data against it); a zip member records its size (checked with its CRC); a zstd frame
may record its content size in its header. gzip records the size modulo 4 GiB and bzip2
not at all: for them, and for anything that does not parse, the answer is None.
"""

from __future__ import annotations

import os
import struct
import zipfile

import zstandard

from .magic import Packing
from .streams import zip_image

_XZ_FOOTER = 12
_XZ_MAX_INDEX = 1 << 24
_XZ_MAX_STREAMS = 64
_PADDING_WINDOW = 64 * 1024


def recorded_size(fd: int, size: int, packing: Packing) -> int | None:
    """What the file says it inflates to; untrusted: callers still count the bytes."""
    try:
        if packing == Packing.XZ:
            return _xz_size(fd, size)
        if packing == Packing.ZSTD:
            content = zstandard.frame_content_size(os.pread(fd, 18, 0))
            return content if content >= 0 else None
        if packing == Packing.ZIP:
            with open(os.dup(fd), "rb") as f, zipfile.ZipFile(f) as archive:
                return zip_image(archive).file_size
    except (OSError, ValueError, zstandard.ZstdError, zipfile.BadZipFile):
        return None
    return None


def _xz_size(fd: int, size: int) -> int | None:
    """The sum of every stream's index, walking back from the end of the file."""
    total, end = 0, size
    for _ in range(_XZ_MAX_STREAMS):
        unpadded = _before_padding(fd, end)
        if unpadded is None or unpadded < 2 * _XZ_FOOTER:
            return None
        end = unpadded
        footer = os.pread(fd, _XZ_FOOTER, end - _XZ_FOOTER)
        if footer[10:12] != b"YZ":
            return None
        index_size = (struct.unpack_from("<I", footer, 4)[0] + 1) * 4
        if index_size > min(_XZ_MAX_INDEX, end - 2 * _XZ_FOOTER):
            return None
        parsed = _xz_index(os.pread(fd, index_size, end - _XZ_FOOTER - index_size))
        if parsed is None:
            return None
        blocks, uncompressed = parsed
        total += uncompressed
        end -= 2 * _XZ_FOOTER + index_size + blocks
        if end == 0:
            return total
        if end < 0:
            return None
    return None


def _before_padding(fd: int, end: int) -> int | None:
    """Where the stream before `end` ends: xz allows zero padding, in fours, after a stream."""
    window = os.pread(fd, min(end, _PADDING_WINDOW), end - min(end, _PADDING_WINDOW))
    stripped = len(window.rstrip(b"\0"))
    padding = (len(window) - stripped) // 4 * 4
    if padding == len(window) and end > 0:
        return None  # more padding than we look through: not an image anyone ships
    return end - padding


def _xz_index(index: bytes) -> tuple[int, int] | None:
    """(bytes of blocks, uncompressed bytes) that one stream's index records."""
    if not index or index[0] != 0:
        return None
    pos = 1
    count, pos = _varint(index, pos)
    blocks = uncompressed = 0
    for _ in range(count):
        if pos >= len(index):
            return None
        unpadded, pos = _varint(index, pos)
        size, pos = _varint(index, pos)
        blocks += (unpadded + 3) & ~3
        uncompressed += size
    return blocks, uncompressed


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """xz's multibyte integer: seven bits a byte, at most nine bytes."""
    value = 0
    for shift in range(0, 63, 7):
        if pos >= len(data):
            raise ValueError("cut short")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise ValueError("too long")
