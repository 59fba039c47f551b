"""VMDK: the sparse header (`KDMV`), its embedded descriptor, and text descriptor files.

Everything here is read the way qemu 7.2 reads it (block/vmdk.c):
- a file without magic is a descriptor exactly when `vmdk_probe()` says so: in
  qemu's 2048-byte probe buffer (zero-padded), comment lines (anything up to a
  newline, control bytes included) and lines of spaces are skipped, and the first
  other line must be `version=1`, `2` or `3`;
- the descriptor text runs up to the first NUL, at most 1 MiB - 1;
- `createType` and `parentFileNameHint` are the first matches in the whole text,
  comments included, because those are the values qemu acts on;
- extent lines are matched the way qemu's `sscanf()` matches them, which may
  span lines.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from ..formats import ImageFormat
from .detection import Detection, implausible, truncated, violation
from .verdict import Violation, ViolationCode
from .view import HeaderView

SPARSE_MAGIC = b"KDMV"
COWD_MAGIC = b"COWD"
HEADER_SIZE = 512
DESC_MAX = (1 << 20) - 1
PROBE_SIZE = 2048  # qemu's BLOCK_PROBE_BUF_SIZE
PARENT_DESC_AT, PARENT_DESC_SIZE = 512, 20 * 512  # what vmdk_parent_open() reads of a sparse file
GD_AT_END = 0xFFFFFFFFFFFFFFFF
SINGLE_FILE_TYPES = frozenset({"monolithicSparse", "streamOptimized"})
# The create types vmdk_open_desc_file() accepts; any other makes qemu fail before the extents.
DESCRIPTOR_TYPES = frozenset(
    {"monolithicFlat", "vmfs", "vmfsSparse", "seSparse", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"}
)
EXTENT_TYPES = frozenset({"FLAT", "SPARSE", "VMFS", "VMFSSPARSE", "SESPARSE"})
_VERSION_LINES = tuple(f"version={v}{end}".encode() for v in "123" for end in ("\n", "\r\n"))
_WS = rb" \t\n\v\f\r"
_WS_RUN = re.compile(rb"[" + _WS + rb"]*")
_TOKEN = re.compile(rb"[^" + _WS + rb"]{1,10}")  # %10s
_NUMBER = re.compile(rb"[+-]?(\d+)")  # %ld
_NAME = re.compile(rb'[^\n\r"]{1,511}')  # %511[^\n\r"]
INT64_MAX = (1 << 63) - 1
MARKER_EOS, MARKER_FOOTER = 0, 3


@dataclass(frozen=True)
class Extent:
    access: str
    sectors: int
    type: str
    file: str

    def as_list(self) -> list[object]:
        return [self.access, self.sectors, self.type, self.file]


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
    if probes_as_descriptor(head):
        return _detect_descriptor_file(_descriptor_text(head))
    return None


def probes_as_descriptor(head: bytes) -> bool:
    """qemu's vmdk_probe() for a file without a sparse magic."""
    buf = head[:PROBE_SIZE].ljust(PROBE_SIZE, b"\0")
    p, end = 0, len(buf)
    while p < end:
        if buf[p] == ord("#"):
            newline = buf.find(b"\n", p)
            p = end if newline < 0 else newline + 1
        elif buf[p] == ord(" "):
            p = len(buf) - len(buf[p:].lstrip(b" "))
            p += buf.startswith(b"\r", p)
            if not buf.startswith(b"\n", p):
                return False  # only blank lines may come before `version=`
            p += 1
        else:
            return buf.startswith(_VERSION_LINES, p)
    return False


def create_type(text: bytes) -> str | None:
    """`createType` as qemu's vmdk_parse_description() finds it (into a 128-byte buffer)."""
    value = _quoted_after(text, b"createType", 127)
    return None if value is None else value.decode("ascii", "replace")


def parent_hint(text: bytes) -> str | None:
    """`parentFileNameHint` as qemu's vmdk_parent_open() finds it: the backing file."""
    value = _quoted_after(text, b"parentFileNameHint", 4095)
    return value.decode("utf-8", "replace") if value else None


def _quoted_after(text: bytes, key: bytes, limit: int) -> bytes | None:
    """What qemu reads after the first `key` anywhere: skip `="`, take up to the next `"`.
    None where qemu fails (no closing quote, longer than its buffer)."""
    pos = text.find(key)
    if pos < 0:
        return None
    start = pos + len(key) + 2
    end = text.find(b'"', start)
    if start > len(text) or end < 0 or end - start > limit:
        return None
    return text[start:end]


def extents(text: bytes) -> list[Extent]:
    """The extent files qemu's vmdk_parse_extents() opens, in order.

    qemu tries `sscanf()` at every line start; a match may run over several lines. It
    stops at the first invalid extent line (after opening the ones before it).
    """
    found: list[Extent] = []
    tried: set[int] = set()
    q = 0
    for p in _line_starts(text):
        if p >= q:
            q = _skip_ws(text, p)
        if q in tried:
            continue  # a line of blanks: sscanf skips them, so this match was seen
        tried.add(q)
        fields = _scan_extent(text, q)
        if fields is None:
            continue
        access, sectors, kind, name, offset = fields
        if access != "RW":
            continue
        if (offset is None or offset < 0) if kind == "FLAT" else offset is not None:
            break  # "Invalid extent line": qemu gives up here
        if sectors > 0 and kind in EXTENT_TYPES:
            found.append(Extent(access, sectors, kind, name))
    return found


def _line_starts(text: bytes) -> list[int]:
    return [0, *(m.end() for m in re.finditer(rb"\n", text) if m.end() < len(text))] if text else []


def _scan_extent(text: bytes, pos: int) -> tuple[str, int, str, str, int | None] | None:
    """`%10s %ld %10s "%511[^\\n\\r"]" %ld` from `pos`; None if fewer than four fields match."""
    access, pos = _token(text, pos)
    sectors, pos = _number(text, pos)
    kind, pos = _token(text, pos)
    if access is None or sectors is None or kind is None:
        return None
    pos = _skip_ws(text, pos)
    if not text.startswith(b'"', pos):
        return None
    name = _NAME.match(text, pos + 1)
    if name is None:
        return None
    offset = None
    if text.startswith(b'"', name.end()):
        offset, _ = _number(text, name.end() + 1)
    return (
        access.decode("latin-1"),
        sectors,
        kind.decode("latin-1"),
        name[0].decode("utf-8", "replace"),
        offset,
    )


def _skip_ws(text: bytes, pos: int) -> int:
    m = _WS_RUN.match(text, pos)
    return pos if m is None else m.end()


def _token(text: bytes, pos: int) -> tuple[bytes | None, int]:
    pos = _skip_ws(text, pos)
    m = _TOKEN.match(text, pos)
    return (None, pos) if m is None else (m[0], m.end())


def _number(text: bytes, pos: int) -> tuple[int | None, int]:
    """strtol(): out-of-range values saturate, as glibc's sscanf() stores them."""
    pos = _skip_ws(text, pos)
    m = _NUMBER.match(text, pos)
    if m is None:
        return None, pos
    digits = m[1].lstrip(b"0")
    value = INT64_MAX + 1 if len(digits) > 19 else int(digits or b"0")
    if m[0].startswith(b"-"):
        return max(-value, -INT64_MAX - 1), m.end()
    return min(value, INT64_MAX), m.end()


def _descriptor_text(data: bytes) -> bytes:
    return data[:DESC_MAX].split(b"\0", 1)[0]


def _extent_violations(found: list[Extent], why: str) -> list[Violation]:
    return [
        violation(ViolationCode.VMDK_EXTENT, f"{why} names an extent file {e.file!r} that qemu would open.")
        for e in found
    ]


def _parent_violation(name: str) -> Violation:
    return violation(
        ViolationCode.BACKING_FILE,
        f"The VMDK names a parent disk ({name!r}), which qemu would open from this host.",
    )


def _detect_descriptor_file(text: bytes) -> Detection:
    ctype = create_type(text)
    found = extents(text)
    parent = parent_hint(text[:PARENT_DESC_SIZE])
    problems = _check_create_type(ctype) + _extent_violations(found, "The VMDK descriptor")
    if parent is not None:
        problems.append(_parent_violation(parent))
    if not problems:
        problems.append(
            violation(
                ViolationCode.VMDK_CREATE_TYPE,
                "This is a VMDK descriptor file with no data of its own.",
            )
        )
    details: dict[str, object] = {"descriptor": "file", "extents": [e.as_list() for e in found]}
    if parent is not None:
        details["backing_format"] = "vmdk"
    return Detection(
        ImageFormat.VMDK,
        subformat=ctype,
        backing_file=parent,
        details=details,
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

    if capacity == 0 and desc_offset:
        text, found = _capacity0_descriptor(head, desc_offset)
        problems += _capacity0_violations(text, found)
    else:
        text, trouble = _embedded_descriptor(view, desc_offset, desc_size)
        found = extents(text)
        problems += trouble + _check_create_type(create_type(text))
        problems += _extent_violations([e for e in found if "/" in e.file], "The VMDK descriptor")
    parent = parent_hint(_descriptor_text(head[PARENT_DESC_AT : PARENT_DESC_AT + PARENT_DESC_SIZE]))
    if parent is not None:
        problems.append(_parent_violation(parent))
    if gd_offset == GD_AT_END:
        problems += _check_footer(view, head)

    details: dict[str, object] = {
        "version": version,
        "flags": flags,
        "compressed": compress == 1,
        "extents": [e.as_list() for e in found],
    }
    if parent is not None:
        details["backing_format"] = "vmdk"
    return Detection(
        fmt,
        virtual_size=capacity * 512,
        subformat=create_type(text) or "monolithicSparse",
        cluster_size=grain * 512,
        backing_file=parent,
        details=details,
        violations=tuple(problems),
    )


def _capacity0_descriptor(head: bytes, desc_offset: int) -> tuple[bytes, list[Extent]]:
    """What vmdk_open_vmdk4() reads when the capacity is 0: min(file size, 1 MiB - 1) bytes
    at the descriptor offset, whatever `desc_size` says, which it opens as a descriptor file.

    Past the end of the file qemu reads zeros, so the text ends there; what lies past our
    head is not read, and the file is refused all the same.
    """
    offset = (desc_offset << 9) & GD_AT_END
    text = _descriptor_text(head[offset:]) if offset < len(head) else b""
    return text, extents(text)


def _capacity0_violations(text: bytes, found: list[Extent]) -> list[Violation]:
    return [
        violation(
            ViolationCode.VMDK_CREATE_TYPE,
            "The VMDK has a capacity of 0, so qemu reads it as a descriptor file, "
            "which keeps its data in other files.",
        ),
        *_check_create_type(create_type(text)),
        *_extent_violations(found, "The VMDK's descriptor"),
    ]


def _embedded_descriptor(view: HeaderView, desc_offset: int, desc_size: int) -> tuple[bytes, list[Violation]]:
    """The descriptor a sparse VMDK carries for other tools; qemu reads only its parent link."""
    if not desc_offset:
        return b"", []
    data = view.read(desc_offset * 512, min(desc_size * 512, DESC_MAX))
    if data is None:
        return b"", [implausible("The VMDK descriptor lies outside the file's header area.")]
    return _descriptor_text(data), []


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
