"""What a conversion verifies by default (structure: inspector, qemu-img info, allocation
maps range by range, sampled data) and what `--verify=full` adds (qemu-img compare).

The damage is real: another program writes into the finished `.part` as its verification
begins (the moment `ConvertJob` reports "verifying output"), as a failing disk or a
meddling process would; no fake stands in for qemu-img or the files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.convert.verification import Verification, allocation_problem, compare_samples
from diskscope.core.errors import VerificationFailed
from diskscope.core.progress import Progress
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.qemu.results import MapExtent
from imagekit import MiB, RecordingQemuImg, qemu_img

KiB = 1024


def raw_source(path: Path, size: int, ranges: list[tuple[int, int]]) -> Path:
    """A sparse raw file with patterned (not constant) data in `ranges`."""
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in ranges:
            f.seek(offset)
            f.write(bytes((offset // 4096 + i) % 251 for i in range(4096)) * (length // 4096))
    return path


def tamper(tmp_path: Path, offset: int, data: bytes) -> Callable[[Progress], None]:
    """An on_progress that writes `data` into the finished output as verification starts."""

    def on_progress(p: Progress) -> None:
        if p.phase == "verifying output":
            for part in tmp_path.glob(".diskscope-*/*.part"):
                with open(part, "r+b") as f:
                    f.seek(offset)
                    f.write(data)

    return on_progress


def test_default_catches_data_where_the_source_has_a_hole(tmp_path: Path) -> None:
    source = raw_source(tmp_path / "s.raw", 32 * MiB, [(0, MiB), (20 * MiB, MiB)])
    request = ConvertRequest(source, tmp_path / "o.raw", "raw")
    with pytest.raises(
        VerificationFailed, match="holds data at byte 10,485,760, where the source holds none"
    ):
        ConvertJob(request, QemuImg(), on_progress=tamper(tmp_path, 10 * MiB, b"\x55" * 4096)).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_default_catches_a_damaged_block_of_data(tmp_path: Path) -> None:
    """The data stays where the source has data, so the maps agree; the sampled bytes do not."""
    source = raw_source(tmp_path / "s.qcow2.raw", 32 * MiB, [(0, MiB), (20 * MiB, MiB)])
    qcow2 = tmp_path / "s.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", source, qcow2)
    request = ConvertRequest(qcow2, tmp_path / "o.raw", "raw")
    with pytest.raises(VerificationFailed, match="block at byte 20,971,520 differs from the source"):
        ConvertJob(request, QemuImg(), on_progress=tamper(tmp_path, 20 * MiB + 7, b"\x00\xff")).run()
    assert not (tmp_path / "o.raw").exists()


def test_full_verification_catches_what_sampling_misses(tmp_path: Path) -> None:
    """16 MiB of data: 64 samples of 64 KiB read a quarter of it. A byte changed between two
    samples passes the default (which says how much it compared) and fails qemu-img compare."""
    source = raw_source(tmp_path / "s.raw", 64 * MiB, [(0, 16 * MiB)])
    between = 256 * KiB - 5  # samples start every 256 KiB and read 64 KiB
    default = ConvertRequest(source, tmp_path / "a.raw", "raw")
    result = ConvertJob(default, QemuImg(), on_progress=tamper(tmp_path, between, b"\xee")).run()
    assert "sampled data: 64 blocks of up to 64 KiB identical to the source" in result.checks
    assert not any("qemu-img compare" in check for check in result.checks)

    full = ConvertRequest(source, tmp_path / "b.raw", "raw", verify=Verification.FULL)
    with pytest.raises(VerificationFailed, match="qemu-img compare found the output differs"):
        ConvertJob(full, QemuImg(), on_progress=tamper(tmp_path, between, b"\xee")).run()
    assert not (tmp_path / "b.raw").exists()


def test_default_runs_no_compare_and_full_does(tmp_path: Path) -> None:
    source = raw_source(tmp_path / "s.raw", 16 * MiB, [(MiB, MiB)])
    for verify, compared in ((Verification.STRUCTURE, False), (Verification.FULL, True)):
        qemu = RecordingQemuImg()
        out = tmp_path / f"{verify}.qcow2"
        result = ConvertJob(ConvertRequest(source, out, "qcow2", verify=verify), qemu).run()
        assert ("compare" in qemu.commands_opening(source)) is compared
        assert ("qemu-img compare: identical to the source" in result.checks) is compared
        assert "map" in {call[0] for call in qemu.calls if any(".part" in a for a in call)}


@pytest.mark.parametrize("target", ["qcow2", "vmdk", "vdi", "vpc"])
def test_small_islands_of_data_pass_into_large_clusters(tmp_path: Path, target: str) -> None:
    """4 KiB of data at odd places becomes a whole cluster (64 KiB to 32 MiB) of output data:
    the maps are compared at the larger granularity, not refused. (vhdx: qemu-img 7.2 maps
    no allocation; test_raw_to_every_target converts to it with the default verification.)"""
    source = raw_source(tmp_path / "s.raw", 64 * MiB, [(12 * KiB, 4 * KiB), (33 * MiB + 4 * KiB, 8 * KiB)])
    out = tmp_path / f"o.{target}"
    result = ConvertJob(ConvertRequest(source, out, target), QemuImg()).run()
    assert any(check.startswith("allocation map: data only where") for check in result.checks)
    qemu_img("compare", "-f", "raw", "-F", target, source, out)


def test_allocation_maps_range_by_range() -> None:
    def ext(start: int, length: int, data: bool) -> MapExtent:
        return MapExtent(start, length, 0, data, not data, data, start if data else None)

    source = [ext(0, 64 * KiB, True), ext(64 * KiB, 960 * KiB, False)]
    assert (
        allocation_problem(source, [ext(0, 4 * KiB, True), ext(4 * KiB, 1020 * KiB, False)], MiB, 4096)
        is None
    )
    extra = [ext(0, 64 * KiB, True), ext(64 * KiB, 4 * KiB, True), ext(68 * KiB, 956 * KiB, False)]
    assert allocation_problem(source, extra, MiB, 4096) == (
        "it holds data at byte 65,536, where the source holds none."
    )
    assert allocation_problem(source, extra, MiB, 128 * KiB) is None  # within the source's cluster
    assert allocation_problem(source, [ext(0, 512 * KiB, False)], MiB, 4096) == (
        "its allocation map covers 524,288 bytes, not the disk's 1,048,576."
    )


def test_samples_read_holes_as_zeros_and_skip_what_is_not_stored_plainly(tmp_path: Path) -> None:
    source, output = tmp_path / "s", tmp_path / "o"
    source.write_bytes(bytes(64 * KiB) + b"\x01" * 64 * KiB)
    output.write_bytes(b"")
    os.truncate(output, 128 * KiB)
    zeros = MapExtent(0, 64 * KiB, 0, True, False, True, 0)
    hole = MapExtent(0, 128 * KiB, 0, True, True, False, 0)
    assert compare_samples(str(source), [zeros], str(output), [hole]) == (1, None)
    ones = MapExtent(64 * KiB, 64 * KiB, 0, True, False, True, 64 * KiB)
    assert compare_samples(str(source), [ones], str(output), [hole]) == (
        1, "the block at byte 65,536 differs from the source."
    )  # fmt: skip
    compressed = MapExtent(64 * KiB, 64 * KiB, 0, True, False, True, None)
    assert compare_samples(str(source), [compressed], str(output), [hole]) == (0, None)


def test_cli_says_what_it_verified(tmp_path: Path) -> None:
    source = raw_source(tmp_path / "s.raw", 16 * MiB, [(0, MiB)])

    def convert(*extra: str) -> list[str]:
        out = tmp_path / f"o{len(extra)}.raw"
        argv = [
            sys.executable,
            "-m",
            "diskscope",
            "convert",
            "-O",
            "raw",
            "--json",
            *extra,
            str(source),
            str(out),
        ]
        done = subprocess.run(argv, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return list(json.loads(done.stdout)["checks"])

    default = convert()
    assert default[2:] == [
        "allocation map: data only where the source has data (1 data range)",
        "sampled data: 16 blocks of up to 64 KiB identical to the source",
    ]
    assert convert("--verify=full")[-1] == "qemu-img compare: identical to the source"
