"""VMDK: the sparse header (`KDMV`), its embedded descriptor, and text descriptor files.

The descriptor is read the way qemu reads it (block/vmdk.c): text up to the first
NUL, at most 1 MiB - 1, and `createType` found case-sensitively, first match in
the whole text, comments included, because that is the value qemu will act on.
"""

from __future__ import annotations

import re
import struct

from diskscope.core.formats import ImageFormat
from diskscope.core.inspect.detection import Detection, implausible, truncated, violation
from diskscope.core.inspect.verdict import Violation, ViolationCode
from diskscope.core.inspect.view import HeaderView

SPARSE_MAGIC = b"KDMV"
COWD_MAGIC = b"COWD"
HEADER_SIZE = 512
DESC_MAX = (1 << 20) - 1
GD_AT_END = 0xFFFFFFFFFFFFFFFF
SINGLE_FILE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
_EXTENT = re.compile(
    rb'^[ \t]*(RW|RDONLY|NOACCESS)[ \t]+(\d+)[ \t]+(\w+)(?:[ \t]+"([^"\r\n]*)")?', re.M | re.I
)
_VERSION_LINE = re.compile(rb"^version=[123]\r?$", re.M)
MARKER_EOS, MARKER_FOOTER = 0, 3


def detect(view: HeaderView) -> Detection | None:
    head = view.head
    if head.startswith(SPARSE_MAGIC):
        return _detect_sparse(view)
    if head.startswith(COWD_MAGIC):
        return Detection(
            ImageFormat.VMDK,
            subformat="vmfsSparse",
            violations=(
                violation(
                    ViolationCode.VMDK_CREATE_TYPE,
                    "This is a VMware 3 (COWD) extent, which is never a stand-alone image.",
                ),
            ),
        )
    text = _descriptor_text(head)
    if text is not None and _looks_like_descriptor(text):
        return _detect_descriptor_file(text)
    return None


def create_type(text: bytes) -> str | None:
    """`createType` as qemu's vmdk_parse_description() finds it."""
    pos = text.find(b"createType")
    if pos < 0:
        return None
    start = pos + len(b"createType") + 2
    end = text.find(b'"', start)
    if start >= len(text) or end < 0:
        return None
    return text[start:end].decode("ascii", "replace")


def extents(text: bytes) -> list[tuple[str, int, str, str | None]]:
    """(access, sectors, type, file name or None) for every extent line."""
    return [
        (
            m[1].decode().upper(),
            int(m[2]),
            m[3].decode("ascii", "replace"),
            None if m[4] is None else m[4].decode("utf-8", "replace"),
        )
        for m in _EXTENT.finditer(text)
    ]


def _descriptor_text(data: bytes) -> bytes | None:
    text = data[:DESC_MAX].split(b"\0", 1)[0]
    return text if text else None


def _looks_like_descriptor(text: bytes) -> bool:
    """Broader than qemu's probe on purpose: any descriptor-like text is examined."""
    sample = text[:65536]
    return (
        b"createType" in sample
        or _VERSION_LINE.search(sample[:1024]) is not None
        or _EXTENT.search(sample) is not None
    ) and not any(b < 9 or 13 < b < 32 for b in sample[:4096])


def _detect_descriptor_file(text: bytes) -> Detection:
    ctype = create_type(text)
    problems = _check_create_type(ctype)
    named = [e for e in extents(text) if e[3] is not None]
    problems += [
        violation(
            ViolationCode.VMDK_EXTENT,
            f"The VMDK descriptor names an extent file {name!r} that qemu would open.",
        )
        for *_, name in named
    ]
    if not problems:
        problems.append(
            violation(
                ViolationCode.VMDK_CREATE_TYPE,
                "This is a VMDK descriptor file with no data of its own.",
            )
        )
    return Detection(
        ImageFormat.VMDK,
        subformat=ctype,
        details={"descriptor": "file", "extents": [list(e) for e in extents(text)]},
        violations=tuple(problems),
    )


def _check_create_type(ctype: str | None) -> list[Violation]:
    if ctype is None or ctype in SINGLE_FILE_TYPES:
        return []
    return [
        violation(
            ViolationCode.VMDK_CREATE_TYPE,
            f"The VMDK create type {ctype!r} keeps its data in other files.",
        )
    ]


def _detect_sparse(view: HeaderView) -> Detection:
    head = view.head
    fmt = ImageFormat.VMDK
    if len(head) < HEADER_SIZE:
        return Detection(fmt, violations=(truncated("VMDK", HEADER_SIZE, len(head)),))
    (
        version, flags, capacity, grain, desc_offset, desc_size, gtes_per_gt, _rgd, gd_offset,
    ) = struct.unpack_from("<IIQQQQIQQ", head, 4)  # fmt: skip
    (compress,) = struct.unpack_from("<H", head, 77)
    problems: list[Violation] = []
    if version not in (1, 2, 3):
        problems.append(implausible(f"The VMDK header has version {version}, which qemu rejects."))
    if not 1 <= grain <= 128 * 1024 or grain & (grain - 1):
        problems.append(implausible(f"The VMDK grain of {grain} sectors is impossible."))
    if capacity > (1 << 52):
        problems.append(implausible(f"The VMDK capacity of {capacity} sectors is absurd."))
    if gtes_per_gt > 512:
        problems.append(implausible("The VMDK grain tables are larger than qemu allows."))

    text = b""
    if desc_offset:
        data = view.read(desc_offset * 512, min(desc_size * 512, DESC_MAX))
        if data is None:
            problems.append(implausible("The VMDK descriptor lies outside the file's header area."))
        else:
            text = _descriptor_text(data) or b""
    ctype = create_type(text) if text else None
    problems += _check_create_type(ctype)

    all_extents = extents(text)
    if capacity == 0 and desc_offset:
        # qemu treats this file as a descriptor file and follows its extents.
        problems += [
            violation(
                ViolationCode.VMDK_EXTENT,
                f"The VMDK has no data of its own and names an extent file {e[3]!r}.",
            )
            for e in all_extents
            if e[3] is not None
        ]
    else:
        problems += [
            violation(
                ViolationCode.VMDK_EXTENT,
                f"The VMDK descriptor names an extent in another directory ({e[3]!r}).",
            )
            for e in all_extents
            if e[3] is not None and "/" in e[3]
        ]
    if gd_offset == GD_AT_END:
        problems += _check_footer(view, head)

    return Detection(
        fmt,
        virtual_size=capacity * 512,
        subformat=ctype or "monolithicSparse",
        cluster_size=grain * 512,
        details={
            "version": version,
            "flags": flags,
            "compressed": compress == 1,
            "extents": [list(e) for e in all_extents],
        },
        violations=tuple(problems),
    )


def _check_footer(view: HeaderView, head: bytes) -> list[Violation]:
    """A streamOptimized footer overrides the header in qemu, so it must agree with it."""
    tail = view.at_end(1536)
    if tail is None:
        return []  # not known until the whole file has been seen
    bad = violation(ViolationCode.VMDK_FOOTER, "The VMDK footer does not match its header.")
    footer = tail[512:1024]
    if footer[:4] != SPARSE_MAGIC:
        return [bad]
    h_ver, h_desc = struct.unpack_from("<I", head, 4)[0], struct.unpack_from("<QQ", head, 28)
    f_ver, f_desc = struct.unpack_from("<I", footer, 4)[0], struct.unpack_from("<QQ", footer, 28)
    (f_gd,) = struct.unpack_from("<Q", footer, 56)
    if h_ver != f_ver or h_desc != f_desc or f_gd == GD_AT_END:
        return [bad]
    for block, kind in ((tail[:512], MARKER_FOOTER), (tail[1024:], MARKER_EOS)):
        _val, size, typ = struct.unpack_from("<QII", block)
        if size or typ != kind or any(block[16:]):
            return [bad]
    return []
