"""Fuzzing the parsers and the inspector (hypothesis). Only the documented error type may
escape, never a hang; whatever the inspector calls safe, qemu-img opens without touching
any other file (checked under strace)."""

from __future__ import annotations

import json
import os
import random
import struct
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from catalogue import CASES, build
from diskscope.core.formats import ImageFormat
from diskscope.core.inspect.inspector import InspectionResult, StreamInspector, analyze, inspect_file
from diskscope.core.inspect.verdict import ViolationCode
from diskscope.core.inspect.view import HEAD_SIZE, TAIL_SIZE, HeaderView
from diskscope.core.qemu.image_info import ImageInfo, parse_info_json
from diskscope.core.qemu.info_text import parse_info_text, parse_size
from hypothesis import example, given
from hypothesis import strategies as st
from imagekit import qemu_img
from qemu_trace import strace_info

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=40,
)


@cache
def real_outputs() -> tuple[dict[str, object], str, list[bytes]]:
    """qemu-img's own JSON and text for a qcow2 with snapshots, and headers of every format."""
    folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"diskscope-fuzz-{os.getpid()}"
    folder.mkdir(exist_ok=True)
    qcow2 = folder / "s.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", qcow2, "64M")
    for name in ("one", "two with spaces", "ünï"):
        qemu_img("snapshot", "-c", name, qcow2)
    data = json.loads(qemu_img("info", "-f", "qcow2", "--output=json", qcow2))
    text = qemu_img("info", "-f", "qcow2", qcow2)
    headers = []
    for case in CASES:
        path = build(case, folder / case.name)
        with open(path, "rb") as f:
            headers.append(f.read(HEAD_SIZE + 4096))
    return data, text, headers


# The fields both outputs of qemu-img info carry: (label of the text line, ImageInfo attribute).
SHARED_FIELDS = {
    "image": "filename",
    "file format": "format",
    "virtual size": "virtual_size",
    "disk size": "actual_size",
    "cluster_size": "cluster_size",
}
JSON_KEYS = {"filename": "filename", "format": "format", "virtual-size": "virtual_size",
             "actual-size": "actual_size", "cluster-size": "cluster_size"}  # fmt: skip


def _is_size(value: object) -> bool:
    return type(value) is int and 0 <= value < 1 << 64


def assert_info_sound(info: ImageInfo) -> None:
    """What every parsed ImageInfo must be, whatever the input: typed, and sizes that are
    non-negative integers (never a bool, a float or a negative count of bytes)."""
    assert isinstance(info, ImageInfo)
    assert isinstance(info.filename, str) and isinstance(info.format, str)
    assert _is_size(info.virtual_size)
    assert info.actual_size is None or _is_size(info.actual_size)
    assert info.cluster_size is None or _is_size(info.cluster_size)
    for snapshot in info.snapshots:
        assert isinstance(snapshot.id, str) and isinstance(snapshot.name, str)
        assert _is_size(snapshot.vm_state_size)
    for child in info.children:
        assert_info_sound(child.info)


def parsed_or_none(parse: Callable[[Any], ImageInfo], value: Any) -> ImageInfo | None:
    """The parser's result, checked sound; None when it refused with the documented ValueError."""
    try:
        info = parse(value)
    except ValueError:
        return None
    assert_info_sound(info)
    return info


def test_text_and_json_parsers_agree_on_real_output() -> None:
    data, text, _headers = real_outputs()
    from_json, from_text = parse_info_json(data), parse_info_text(text)
    for attribute in SHARED_FIELDS.values():
        assert getattr(from_text, attribute) == getattr(from_json, attribute), attribute
    assert from_text.actual_size is not None and from_text.cluster_size == 65536
    assert [(s.id, s.name, s.vm_state_size) for s in from_text.snapshots] == [
        (s.id, s.name, s.vm_state_size) for s in from_json.snapshots
    ]
    assert [s.name for s in from_json.snapshots] == ["one", "two with spaces", "ünï"]


@given(json_values)
def test_json_parser_only_raises_value_error(value: object) -> None:
    parsed_or_none(parse_info_json, value)


@given(st.data())
def test_json_parser_on_mutated_real_output(data: st.DataObject) -> None:
    original, _text, _headers = real_outputs()
    doc = json.loads(json.dumps(original))
    target = doc
    touched: str | None = None  # the top-level key the mutation is under
    path = data.draw(st.lists(st.sampled_from(["snapshots", 0, "format-specific", "data"]), max_size=3))
    for step in path:
        if isinstance(target, dict) and step in target:
            touched = touched or str(step)
            target = target[step]
        elif isinstance(target, list) and isinstance(step, int) and target:
            target = target[0]
    if isinstance(target, dict) and target:
        key = data.draw(st.sampled_from(sorted(target)))
        touched = touched or key
        action = data.draw(st.sampled_from(["delete", "retype", "huge", "nest"]))
        if action == "delete":
            del target[key]
        elif action == "retype":
            target[key] = data.draw(json_values)
        elif action == "huge":
            target[key] = data.draw(st.sampled_from([2**64, -(2**63), 10**30, 1e308]))
        else:
            nested: object = target[key]
            for _ in range(data.draw(st.integers(1, 2000))):
                nested = [nested]
            target[key] = nested
    info = parsed_or_none(parse_info_json, doc)
    if info is not None:  # what the mutation did not reach reads as before
        reference = parse_info_json(original)
        for json_key, attribute in JSON_KEYS.items():
            if json_key != touched:
                assert getattr(info, attribute) == getattr(reference, attribute), json_key


@given(st.data())
def test_text_parser_on_mutated_real_output(data: st.DataObject) -> None:
    """Whatever parses is sound, and a field whose line survived unchanged (and alone) reads
    as the JSON output of the same image says: the two parsers agree."""
    original, text, _headers = real_outputs()
    lines = text.splitlines()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        action = data.draw(st.sampled_from(["delete", "duplicate", "garble", "replace"]))
        if action == "delete" and len(lines) > 1:
            del lines[i]
        elif action == "duplicate":
            lines.insert(i, lines[i])
        elif action == "garble":
            chars = list(lines[i])
            if chars:
                chars[data.draw(st.integers(0, len(chars) - 1))] = data.draw(st.characters())
            lines[i] = "".join(chars)
        else:
            lines[i] = data.draw(st.text(max_size=40))
    info = parsed_or_none(parse_info_text, "\n".join(lines))
    if info is None:
        return
    reference = parse_info_json(original)
    for label, attribute in SHARED_FIELDS.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"{label}:"))
        if [ln for ln in lines if ln.startswith(f"{label}:")] == [line]:
            assert getattr(info, attribute) == getattr(reference, attribute), line


@given(st.text(max_size=300))
def test_text_parser_on_random_text(text: str) -> None:
    parsed_or_none(parse_info_text, text)


@given(st.integers(0, (1 << 64) - 1), st.sampled_from(["", "K", "M", "G", "T"]), st.booleans())
def test_text_sizes_are_the_bytes_printed(size: int, unit: str, binary: bool) -> None:
    """`N unit (B bytes)` is B; `N unit` alone is N times the unit, a non-negative int."""
    assert parse_size(f"9 GiB ({size} bytes)") == size
    small = size % 100_000
    parsed = parse_size(f"{small} {unit}{'iB' if binary and unit else 'B'}")
    assert type(parsed) is int and parsed == small * 1024 ** ["", "K", "M", "G", "T"].index(unit)


def assert_sound(result: InspectionResult) -> None:
    """What every verdict must be, whatever the input: a known format, safe exactly when
    nothing was found, and each finding one sentence with a code and advice."""
    assert isinstance(result.format, ImageFormat)
    assert result.safe == (not result.violations)
    for finding in (*result.violations, *result.warnings):
        assert isinstance(finding.code, ViolationCode) and finding.advice
        assert finding.message.endswith(".") and "\n" not in finding.message
    assert all(w.code == ViolationCode.PARTITION_TABLE for w in result.warnings)
    assert result.virtual_size is None or result.virtual_size >= 0


def analyze_whole_and_streamed(data: bytes, seed: int) -> InspectionResult:
    """The verdict on `data` as a file, checked sound and equal to the streamed verdict."""
    whole = analyze(HeaderView(data[:HEAD_SIZE], {}, data[-TAIL_SIZE:], len(data)))
    assert_sound(whole)
    inspector = StreamInspector()
    rng = random.Random(seed)
    pos = 0
    while pos < len(data):
        step = rng.randint(1, 70000)
        inspector.feed(data[pos : pos + step])
        pos += step
    streamed = inspector.finish()
    assert (streamed.format, streamed.violations, streamed.warnings) == (
        whole.format,
        whole.violations,
        whole.warnings,
    )
    return whole


@given(st.binary(max_size=4096), st.integers(0, 1 << 40))
def test_inspector_on_random_bytes(data: bytes, size: int) -> None:
    size = max(size, len(data))
    assert_sound(analyze(HeaderView(data, {}, data[-TAIL_SIZE:], size)))


@given(st.sampled_from([512, 4096]), st.integers(0, 200), st.binary(max_size=200), st.integers())
def test_inspector_on_cut_gpt_headers(sector: int, cut: int, rest: bytes, seed: int) -> None:
    """A GPT signature followed by anything, cut anywhere (once a struct.error)."""
    data = (b"\0" * sector + b"EFI PART" + rest)[: sector + 8 + cut]
    result = analyze_whole_and_streamed(data, seed)
    assert result.format == ImageFormat.GPT
    if len(data) < sector + 92:
        assert [v.code for v in result.violations] == [ViolationCode.TRUNCATED]


_DESCRIPTOR_LINES = st.one_of(
    st.sampled_from(["# Disk DescriptorFile", "version=1", "CID=fffffffe", 'createType="monolithicFlat"',
                     'createType="streamOptimized"', 'parentFileNameHint="base.vmdk"', "", "#\x01\x02"]),
    st.builds(lambda a, n, t, f, o: f'{a} {n} {t} "{f}" {o}',
              st.sampled_from(["RW", "RDONLY", "rw", "RWX"]),
              st.one_of(st.integers(-(10**30), 10**30).map(str), st.integers(1, 6000).map(lambda k: "9" * k)),
              st.sampled_from(["FLAT", "SPARSE", "VMFS", "ZERO", "SESPARSE"]),
              st.text(alphabet="abc/.\" \n", max_size=20), st.integers(-5, 10**25)),
    st.text(max_size=40),
)  # fmt: skip


@given(st.lists(_DESCRIPTOR_LINES, max_size=12), st.sampled_from(["\n", "\r\n"]), st.integers())
def test_inspector_on_vmdk_descriptor_shapes(lines: list[str], newline: str, seed: int) -> None:
    """Descriptor text with huge, negative or many-digit sector counts (once a ValueError)."""
    data = ("version=1" + newline + newline.join(lines)).encode("utf-8", "surrogatepass")
    result = analyze_whole_and_streamed(data, seed)
    assert result.format == ImageFormat.VMDK and not result.safe


def _nested(depth: int, leaf: object) -> object:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@given(
    st.integers(0, 60_000),
    st.sampled_from(["keyslots", "segments", "digests"]),
    st.one_of(json_values, st.just(5)),
    st.integers(),
)
def test_inspector_on_luks2_metadata(depth: int, key: str, value: object, seed: int) -> None:
    """LUKS2 JSON nested deep or of the wrong types (once RecursionError, TypeError)."""
    meta = json.dumps({key: value, "nested": None}).encode()
    if depth:
        meta = b"[" * depth + b"0" + b"]" * depth  # json.dumps itself would recurse
    header = bytearray(4096)
    header[0:8] = b"LUKS\xba\xbe\x00\x02"
    header[8:16] = struct.pack(">Q", 4096 + len(meta) + 1)
    result = analyze_whole_and_streamed(bytes(header) + meta + b"\0" * 512, seed)
    assert result.format == ImageFormat.LUKS and not result.safe


@given(
    st.sampled_from(
        [b"", b"\xfd7zXZ\x00", b"\x1f\x8b\x08", b"BZh91AY&SY", b"\x28\xb5\x2f\xfd", b"PK\x03\x04"]
    ),
    st.one_of(st.text(max_size=5000).map(lambda t: t.encode()), st.binary(max_size=5000)),
    st.booleans(),
    st.integers(),
)
@example(b"", b"LUKS\xba\xbe", True, 0)  # found by hypothesis: a tar that opens with a LUKS magic
def test_inspector_on_archives_and_text(magic: bytes, body: bytes, tar: bool, seed: int) -> None:
    """Compressed files, archives and text: the same verdict from a file and a stream."""
    data = magic + body
    if tar:
        data = data.ljust(257, b"\0")[:257] + b"ustar\x0000" + data[257:]
    result = analyze_whole_and_streamed(data, seed)
    if magic or tar:
        # never a safe raw disk: refused as what it is, or for a format whose magic opens it
        # (a tar whose first bytes are a LUKS header is refused as a crafted LUKS header)
        assert not (result.safe and result.format.is_raw_family)
        codes = [v.code for v in result.violations]
        assert codes == [ViolationCode.NOT_A_DISK_IMAGE] or result.matches, codes


def _mutate(header: bytes, data: st.DataObject) -> bytes:
    buf = bytearray(header)
    for _ in range(data.draw(st.integers(1, 8))):
        action = data.draw(st.sampled_from(["flip", "extreme", "truncate"]))
        if not buf:
            break
        if action == "flip":
            i = data.draw(st.integers(0, min(len(buf), 4096) - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "extreme":
            i = data.draw(st.integers(0, max(0, min(len(buf), 512) - 8)))
            buf[i : i + 8] = data.draw(st.sampled_from([b"\xff" * 8, b"\0" * 8, b"\x7f" + b"\xff" * 7]))
        else:
            cut = data.draw(st.sampled_from([4, 8, 50, 72, 104, 512, 1024, 65536, len(buf) // 2]))
            del buf[cut:]
    return bytes(buf)


@given(st.data())
def test_inspector_on_mutated_real_headers(data: st.DataObject) -> None:
    _json, _text, headers = real_outputs()
    header = _mutate(data.draw(st.sampled_from(headers)), data)
    whole = analyze(HeaderView(header, {}, header[-TAIL_SIZE:], len(header)))
    inspector = StreamInspector()
    rng = random.Random(data.draw(st.integers()))
    pos = 0
    while pos < len(header):
        step = rng.randint(1, 70000)
        inspector.feed(header[pos : pos + step])
        pos += step
        assert inspector.buffered <= HEAD_SIZE + 9 * 65536 + TAIL_SIZE
    assert_sound(whole)
    assert inspector.finish().violations == whole.violations


SECRET_NAME = "secret-host-file"


@pytest.mark.parametrize("seed", range(3))
def test_what_the_inspector_calls_safe_opens_nothing_else(tmp_path: Path, seed: int) -> None:
    """Fuzzed hostile images point at a secret file; wherever our inspector says safe,
    qemu-img (told our format, and probing for itself where the gate lets it) must not
    touch it."""
    secret = tmp_path / SECRET_NAME
    secret.write_bytes(b"\0" * 65536)
    rng = random.Random(seed)
    hostile = []
    for kind in ("backing", "data_file", "extent"):
        path = tmp_path / f"{kind}.img"
        if kind == "backing":
            qemu_img("create", "-q", "-f", "qcow2", "-b", str(secret), "-F", "raw", "-u", path, "16M")
        elif kind == "data_file":
            qemu_img("create", "-q", "-f", "qcow2", "-o", f"data_file={secret}", path, "16M")
        else:
            # NULs after the text: a mangled descriptor is then no text file but "raw".
            path.write_bytes(f'# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\n'
                             f'RW 128 FLAT "{secret}" 0\n'.encode() + b"\0" * 4096)  # fmt: skip
        hostile.append(path.read_bytes())
    # The check can fail: qemu-img does follow a VMDK extent, and strace shows it.
    control = tmp_path / "extent.img"
    assert any(SECRET_NAME in line for line in strace_info(control, "vmdk"))
    checked = safe = 0
    for i in range(40):
        buf = bytearray(rng.choice(hostile))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(0, min(len(buf), 128))  # the header fields that matter
            buf[at] ^= 1 << rng.randrange(8)
        image = tmp_path / f"fuzzed-{i}.img"
        image.write_bytes(bytes(buf))
        result = inspect_file(image)
        checked += 1
        if not result.safe:
            continue
        safe += 1
        told = [result.format.qemu_driver] + ([None] if result.format.is_raw_family else [])
        for fmt in told:
            opened = strace_info(image, fmt)
            assert not any(SECRET_NAME in line for line in opened), (i, fmt, result)
            assert any(image.name in line for line in opened)  # strace did watch qemu-img open it
    assert checked == 40 and safe > 0


def test_json_parser_refuses_a_required_field_that_is_null() -> None:
    """Found by the mutation fuzz: `"virtual-size": null` was a TypeError, not a ValueError."""
    original, _text, _headers = real_outputs()
    doc = {**original, "virtual-size": None}
    with pytest.raises(ValueError, match="virtual-size"):
        parse_info_json(doc)
