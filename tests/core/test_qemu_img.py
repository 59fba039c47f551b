"""The qemu-img runner against the real binary: arguments, limits, check, map, measure."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from diskscope.core.errors import QemuImgError, QemuImgLimitExceeded, QemuImgNotFound
from diskscope.core.qemu.commands import absolute
from diskscope.core.qemu.process import Limits
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.qemu.results import CheckStatus
from imagekit import MiB, create, patch, write_pattern


def test_version_is_the_binarys_own() -> None:
    """Read independently: the third word of `qemu-img --version`, and Debian's package version."""
    first_line = subprocess.run(
        [shutil.which("qemu-img") or "qemu-img", "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    assert QemuImg().version == first_line.split()[2]
    package = subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", "qemu-utils"], capture_output=True, text=True
    ).stdout  # e.g. 1:7.2+dfsg-7+deb12u18: epoch, then the upstream major.minor
    if package:
        upstream = package.split(":")[-1].split("+")[0].split("-")[0]
        assert QemuImg().version.startswith(upstream + ".")


def test_missing_binary_is_one_sentence_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(QemuImgNotFound) as exc:
        QemuImg(str(tmp_path / "nowhere" / "qemu-img"))
    message = str(exc.value)
    assert "apt-get install qemu-utils" in message and "dnf install qemu-img" in message
    assert "\n" not in message


def test_missing_binary_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(QemuImgNotFound):
        QemuImg()


def test_every_path_is_absolute() -> None:
    for name in ("-f", "--help", 'json:{"a":1}', "nbd:x"):
        assert absolute(name).startswith("/")
    reference = json.loads(QemuImg().info_args("-f", "qcow2")[-1].removeprefix("json:"))
    assert reference["file"] == {"driver": "file", "filename": os.path.abspath("-f")}


def test_info_runs_with_a_c_locale_and_explicit_format(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    qemu = QemuImg()
    info = qemu.info(path, "qcow2")
    assert info.format == "qcow2" and info.virtual_size == MiB


def test_wrong_format_is_a_clear_error(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    with pytest.raises(QemuImgError) as exc:
        QemuImg().info(path, "vmdk")
    assert "qemu-img info failed" in str(exc.value)


def test_memory_limit_stops_qemu_img(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    qemu = QemuImg(limits=Limits(cpu_seconds=30, memory_bytes=8 << 20))
    with pytest.raises(QemuImgLimitExceeded) as exc:
        qemu.info(path, "qcow2")
    assert "memory limit" in str(exc.value)


def test_cpu_limit_stops_a_spinning_process(tmp_path: Path) -> None:
    """A stand-in for qemu-img that spins: a real qemu-img cannot be made to spin on demand."""
    spinner = tmp_path / "qemu-img"
    spinner.write_text("#!/bin/sh\nwhile :; do :; done\n")
    spinner.chmod(0o755)
    qemu = QemuImg(str(spinner), Limits(cpu_seconds=1, memory_bytes=1 << 30))
    with pytest.raises(QemuImgLimitExceeded) as exc:
        qemu.run(["info"])
    assert "CPU-time limit" in str(exc.value)


def test_wall_clock_limit_stops_a_hanging_process(tmp_path: Path) -> None:
    """A stand-in that sleeps, as a qemu-img stuck on a dead NFS mount would."""
    sleeper = tmp_path / "qemu-img"
    sleeper.write_text("#!/bin/sh\nsleep 600\n")
    sleeper.chmod(0o755)
    qemu = QemuImg(str(sleeper), Limits(cpu_seconds=5, memory_bytes=1 << 30, wall_seconds=0.5))
    with pytest.raises(QemuImgLimitExceeded) as exc:
        qemu.run(["info"])
    assert "took longer than" in str(exc.value)


def test_check_clean_leaks_and_corruption(tmp_path: Path) -> None:
    qemu = QemuImg()
    clean = create(tmp_path / "clean.qcow2", "qcow2", "16M")
    assert qemu.check(clean, "qcow2").status == CheckStatus.CLEAN

    leaky = create(tmp_path / "leaky.qcow2", "qcow2", "16M")
    patch(leaky, 131072 + 2 * 2, struct.pack(">H", 2))  # cluster 2 counted twice
    result = qemu.check(leaky, "qcow2")
    assert (result.status, result.exit_code, result.leaks) == (CheckStatus.LEAKS, 3, 1)
    assert "leaked" in result.summary

    broken = create(tmp_path / "broken.qcow2", "qcow2", "16M")
    patch(broken, 131072, struct.pack(">H", 0))  # the header cluster counted as free
    result = qemu.check(broken, "qcow2")
    assert (result.status, result.exit_code) == (CheckStatus.CORRUPT, 2)
    assert result.corruptions >= 1


def test_check_unsupported_format(tmp_path: Path) -> None:
    raw = create(tmp_path / "a.raw", "raw", "1M")
    result = QemuImg().check(raw, "raw")
    assert (result.status, result.exit_code) == (CheckStatus.UNSUPPORTED, 63)


def test_map_reports_data_where_it_was_written(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "64M")
    write_pattern(path, "qcow2", 8 * MiB, MiB)
    write_pattern(path, "qcow2", 40 * MiB, 2 * MiB)
    extents = QemuImg().map(path, "qcow2", max_length=64 * MiB)
    data = [(e.start, e.length) for e in extents if e.data]
    assert data == [(8 * MiB, MiB), (40 * MiB, 2 * MiB)]
    assert sum(e.length for e in extents) == 64 * MiB


def test_map_is_bounded(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "64M")
    extents = QemuImg().map(path, "qcow2", max_length=4 * MiB)
    assert sum(e.length for e in extents) == 4 * MiB


def test_measure(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "64M")
    write_pattern(path, "qcow2", 0, 4 * MiB)
    result = QemuImg().measure(path, "qcow2", "raw")
    assert result.required == result.fully_allocated == 64 * MiB
    as_qcow2 = QemuImg().measure(path, "qcow2", "qcow2")
    assert 4 * MiB <= as_qcow2.required < 8 * MiB


def test_children_are_in_their_own_process_group(tmp_path: Path) -> None:
    probe = tmp_path / "qemu-img"
    probe.write_text('#!/bin/sh\nps -o pgid= -p $$ ; ps -o pgid= -p $PPID; echo "$LC_ALL"\n')
    probe.chmod(0o755)
    out = QemuImg(str(probe)).run(["info"]).stdout.split()
    assert out[0] != out[1]
    assert out[2] == "C"
