"""Which compression a file uses, by its content, never by its name."""

from __future__ import annotations

import os
import stat
from enum import StrEnum

from ..inspect.content import archive_kind


class Packing(StrEnum):
    XZ = "xz"
    GZIP = "gzip"
    BZIP2 = "bzip2"
    ZSTD = "zstd"
    ZIP = "zip"


MAGIC_BYTES = 1024  # every magic we know sits in the first few bytes


def packing_of(head: bytes) -> Packing | None:
    """The compression a file's first bytes show; None for anything else (tar and 7z too)."""
    kind = archive_kind(head)
    try:
        return Packing(kind) if kind is not None else None
    except ValueError:
        return None


def file_packing(path: str | os.PathLike[str]) -> Packing | None:
    """The compression of a local regular file; None when it is not compressed or unreadable
    (the inspector then says why in its own words)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return packing_of(os.pread(fd, MAGIC_BYTES, 0))
    except OSError:
        return None
    finally:
        os.close(fd)
