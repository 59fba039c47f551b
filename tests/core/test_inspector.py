"""Our inspector against the catalogue: exact verdicts, formats, sizes; qemu-img never
run on what it refuses; the same verdict from a stream in any chunk sizes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from catalogue import CASE_IDS, CASES, Case, build
from diskscope.core.inspect.inspector import StreamInspector, inspect_file
from diskscope.core.inspect.view import HEAD_SIZE
from diskscope.core.safety import inspect_image
from imagekit import RecordingQemuImg


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_inspector_verdict(case: Case, tmp_path: Path) -> None:
    path = build(case, tmp_path)
    result = inspect_file(path)
    assert result.format.value == case.format
    assert {v.code for v in result.violations} == case.codes
    assert {w.code for w in result.warnings} == case.warnings
    assert all(v.message.endswith(".") and "\n" not in v.message for v in result.violations)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_gate_runs_qemu_only_on_safe_files(case: Case, tmp_path: Path) -> None:
    path = build(case, tmp_path)
    qemu = RecordingQemuImg()
    report = inspect_image(path, qemu)
    if case.safe:
        assert report.safe, report.violations
        assert report.info is not None
        assert qemu.opened(path)
        assert all("-f" in call or call[0] != "info" or "--output=json" in call for call in qemu.calls)
    else:
        assert not report.safe
        assert report.info is None
        assert qemu.calls == [], "qemu-img must never open a refused file"


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_stream_verdict_is_independent_of_chunking(case: Case, tmp_path: Path) -> None:
    path = build(case, tmp_path)
    data = path.read_bytes()
    declared = inspect_file(path).declared
    whole = _stream(data, [len(data) or 1], declared)
    rng = random.Random(case.name)
    for sizes in ([1 << 20], [4096], [7], [rng.randint(1, 70000) for _ in range(64)]):
        assert _stream(data, sizes, declared) == whole
    assert whole.violations == inspect_file(path).violations
    assert whole.warnings == inspect_file(path).warnings
    assert whole.format == inspect_file(path).format


def _stream(data: bytes, sizes: list[int], declared: object):  # type: ignore[no-untyped-def]
    inspector = StreamInspector(declared)  # type: ignore[arg-type]
    pos, i = 0, 0
    while pos < len(data):
        # Small chunks where the structures are (the head and the tail), big ones between.
        near = pos < 2 * HEAD_SIZE or pos > len(data) - 8192
        step = sizes[i % len(sizes)] if near else 1 << 20
        inspector.feed(data[pos : pos + step])
        pos += step
        i += 1
        assert inspector.buffered <= HEAD_SIZE + 9 * 65536 + 1536
    return inspector.finish()


def test_stream_refuses_a_backing_file_after_the_headers(tmp_path: Path) -> None:
    """An unsafe image is refused after its first megabytes, not at the end."""
    path = build(CASES[0], tmp_path)
    inspector = StreamInspector()
    inspector.feed(path.read_bytes())
    inspector.feed(b"\0" * HEAD_SIZE)  # more data follows: the headers are settled
    early = inspector.early_result()
    assert early is not None and not early.safe
    assert early.backing_file == "/etc/passwd"


def test_virtual_sizes_match_qemu(tmp_path: Path) -> None:
    qemu = RecordingQemuImg()
    for case in CASES:
        if not case.safe:
            continue
        path = build(case, tmp_path / case.name)
        report = inspect_image(path, qemu)
        ours = report.inspection.virtual_size
        if ours is not None and case.format not in ("vpc", "iso"):
            assert ours == report.info.virtual_size, case.name  # type: ignore[union-attr]
