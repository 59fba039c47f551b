"""Fuzzing the parsers and the inspector (hypothesis). Only the documented error type may
escape, never a hang; whatever the inspector calls safe, qemu-img opens without touching
any other file (checked under strace)."""

from __future__ import annotations

import contextlib
import json
import os
import random
from functools import cache
from pathlib import Path

import pytest
from catalogue import CASES, build
from diskscope.core.image_info import parse_info_json
from diskscope.core.info_text import parse_info_text
from diskscope.core.inspect.inspector import StreamInspector, analyze, inspect_file
from diskscope.core.inspect.view import HEAD_SIZE, TAIL_SIZE, HeaderView
from hypothesis import given
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


@given(json_values)
def test_json_parser_only_raises_value_error(value: object) -> None:
    with contextlib.suppress(ValueError):
        parse_info_json(value)


@given(st.data())
def test_json_parser_on_mutated_real_output(data: st.DataObject) -> None:
    original, _text, _headers = real_outputs()
    doc = json.loads(json.dumps(original))
    target = doc
    path = data.draw(st.lists(st.sampled_from(["snapshots", 0, "format-specific", "data"]), max_size=3))
    for step in path:
        if isinstance(target, dict) and step in target:
            target = target[step]
        elif isinstance(target, list) and isinstance(step, int) and target:
            target = target[0]
    if isinstance(target, dict) and target:
        key = data.draw(st.sampled_from(sorted(target)))
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
    with contextlib.suppress(ValueError):
        parse_info_json(doc)


@given(st.data())
def test_text_parser_on_mutated_real_output(data: st.DataObject) -> None:
    _json, text, _headers = real_outputs()
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
    with contextlib.suppress(ValueError):
        parse_info_text("\n".join(lines))


@given(st.text(max_size=300))
def test_text_parser_on_random_text(text: str) -> None:
    with contextlib.suppress(ValueError):
        parse_info_text(text)


@given(st.binary(max_size=4096), st.integers(0, 1 << 40))
def test_inspector_on_random_bytes(data: bytes, size: int) -> None:
    size = max(size, len(data))
    analyze(HeaderView(data, {}, data[-TAIL_SIZE:], size))


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
    assert inspector.finish().violations == whole.violations


SECRET_NAME = "secret-host-file"


@pytest.mark.parametrize("seed", range(3))
def test_what_the_inspector_calls_safe_opens_nothing_else(tmp_path: Path, seed: int) -> None:
    """Fuzzed hostile images point at a secret file; wherever our inspector says safe,
    qemu-img (told our format) must not touch it."""
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
            path.write_bytes(f'# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\n'
                             f'RW 128 FLAT "{secret}" 0\n'.encode())  # fmt: skip
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
        opened = strace_info(image, result.format.qemu_driver)
        assert not any(SECRET_NAME in line for line in opened), (i, result)
        assert any(image.name in line for line in opened)  # strace did watch qemu-img open it
    assert checked == 40 and safe > 0
