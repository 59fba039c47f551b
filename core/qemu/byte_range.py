"""A byte range of a file as an image qemu-img can open: a disk inside an OVA's tar.

qemu 7.2's raw driver takes `offset` and `size` and then exposes only those bytes to the
format driver above it, so `{"driver": "vmdk", "file": {"driver": "raw", "offset": N,
"size": M, "file": {"driver": "file", "filename": ...}}}` reads the member in place and
nothing is ever extracted. Both numbers must be multiples of 512 (qemu refuses others);
tar puts every member's data on a 512-byte boundary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SECTOR = 512


@dataclass(frozen=True)
class FileRange:
    """`size` bytes of the file at `path`, from `offset`."""

    path: str  # absolute
    offset: int
    size: int

    def __post_init__(self) -> None:
        if not os.path.isabs(self.path) or "\0" in self.path:
            raise ValueError("A file range needs an absolute path without NUL bytes.")
        if self.offset < 0 or self.size < 0 or self.offset % SECTOR or self.size % SECTOR:
            raise ValueError("A file range starts and ends on a 512-byte boundary.")

    def node(self, file_node: dict[str, Any]) -> dict[str, Any]:
        """The raw node that cuts this range out of `file_node` (the whole file's node)."""
        return {"driver": "raw", "offset": self.offset, "size": self.size, "file": file_node}


# Where the runner takes an image: a path, or a range of a file.
ImageSource = str | os.PathLike[str] | FileRange


def source_path(source: ImageSource) -> str:
    """The file an image source reads (the whole container for a range)."""
    return source.path if isinstance(source, FileRange) else os.fspath(source)
