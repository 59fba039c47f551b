"""Files that hold no disk format and are no disk either: empty or sub-sector files, text,
archives and compressed files.

qemu would open any of them as a raw disk, and a VM would boot from garbage, so they
are refused with a sentence that says what they are. Only files in which no format was
found get here. "Text" is decided on the first 4 KiB: no NUL byte, valid UTF-8, no
control characters but tab, newlines, form feeds and escape, more than one distinct
byte, and a line break (unless the whole file is shorter than that). A real raw disk
cannot pass: a fresh one is all zeros, a partitioned one has binary boot code and the
0x55 0xAA boot signature (not UTF-8), filesystems start with zeros or binary
superblocks, and a disk filled with one repeated letter is no text.
"""

from __future__ import annotations

import codecs
import re

from ..formats import ImageFormat
from .detection import Detection, violation
from .verdict import ViolationCode
from .view import HeaderView

SECTOR = 512
TEXT_SAMPLE = 4096
_CONTROL = re.compile("[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f-\x9f]")

# (name, offset, magic, what the file is, what to do about it)
_UNPACK, _DECOMPRESS = "unpack it first", "decompress it first"
_ARCHIVES: tuple[tuple[str, int, tuple[bytes, ...], str, str], ...] = (
    ("tar", 257, (b"ustar\x00", b"ustar  \x00"), "a tar archive (an OVA appliance?)", _UNPACK),
    ("xz", 0, (b"\xfd7zXZ\x00",), "an xz-compressed file", _DECOMPRESS),
    ("gzip", 0, (b"\x1f\x8b\x08",), "a gzip-compressed file", _DECOMPRESS),
    ("zstd", 0, (b"\x28\xb5\x2f\xfd",), "a zstd-compressed file", _DECOMPRESS),
    ("zip", 0, (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"), "a zip archive", _UNPACK),
    ("7z", 0, (b"7z\xbc\xaf\x27\x1c",), "a 7-Zip archive", _UNPACK),
)
_BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")  # the level, then a block or the end


def detect(view: HeaderView) -> Detection | None:
    """Why a file in which no format was found is not a disk image, if it is not one;
    `details["content"]` names what it is (empty, fragment, text, tar, xz, ...)."""
    kind, message = _classify(view)
    if kind is None:
        return None
    return Detection(
        ImageFormat.RAW,
        virtual_size=view.size,
        details={"content": kind},
        violations=(violation(ViolationCode.NOT_A_DISK_IMAGE, message),),
    )


def _classify(view: HeaderView) -> tuple[str | None, str]:
    head = view.head
    if view.size == 0:
        return "empty", "The file is empty, not a disk image."
    archive = _archive(head)
    if archive is not None:
        name, what, action = archive
        return name, f"The file is {what}, not a disk image; {action}."
    if is_text(head):
        return "text", "The file is a text file, not a disk image."
    if view.size is not None and view.size < SECTOR:
        return "fragment", (
            f"The file is only {view.size} bytes long, smaller than one {SECTOR}-byte sector."
        )
    return None, ""


def archive_kind(head: bytes) -> str | None:
    """The archive or compression a file's head shows (tar, xz, gzip, zstd, zip, 7z, bzip2)."""
    archive = _archive(head)
    return None if archive is None else archive[0]


def _archive(head: bytes) -> tuple[str, str, str] | None:
    for name, offset, magics, what, action in _ARCHIVES:
        if head.startswith(magics, offset):
            return name, what, action
    if _BZIP2.match(head):
        return "bzip2", "a bzip2-compressed file", _DECOMPRESS
    return None


def is_text(head: bytes) -> bool:
    """Whether the file starts like text (see the module docstring)."""
    sample = head[:TEXT_SAMPLE]
    whole = len(head) <= TEXT_SAMPLE
    if not sample or b"\0" in sample or sample.count(sample[:1]) == len(sample):
        return False
    if not whole and b"\n" not in sample and b"\r" not in sample:
        return False
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        # A multi-byte character cut at the sample's end is fine unless the file ends there.
        chars = decoder.decode(sample, final=whole)
    except UnicodeDecodeError:
        return False
    return _CONTROL.search(chars) is None
