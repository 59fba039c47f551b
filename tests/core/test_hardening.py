"""Faults nobody named: crash consistency under SIGKILL, network misbehaviour, sources that
change under us, and paths at the edges. Each ends in one sentence with nothing partial left."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.errors import ChecksumMismatch, SourceChanged
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import HttpOptions
from diskscope.core.fetch.verification import Expectation
from diskscope.core.progress import Progress
from diskscope.core.qemu.qemu_img import QemuImg
from httpserver import serving
from imagekit import MiB, qemu_img, qemu_img_working_in, raw_file
from proc import child_pids

KILL_POINTS = int(os.environ.get("DISKSCOPE_KILL_POINTS", "6"))


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "diskscope", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def _copying(folder: Path, name: str) -> bool:
    """Whether a conversion is mid-copy: its partial file, in our private folder, holds data."""
    return any(p.stat().st_blocks > 0 for p in folder.glob(f".diskscope-*/{name}.part"))


def _downloaded(folder: Path) -> int:
    """Bytes in the download's partial file (0 while there is none)."""
    return sum(p.stat().st_size for p in folder.glob("*.part"))


def test_sigkill_during_conversion_never_leaves_a_wrong_destination(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 64 * MiB)
    rng = random.Random(1)
    for point in range(KILL_POINTS):
        dest = tmp_path / f"out-{point}.qcow2"
        proc = _cli("convert", str(source), str(dest), "-O", "qcow2", "--rate-limit", str(8 * MiB), "-q")
        deadline = time.monotonic() + 60
        while not _copying(tmp_path, dest.name) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 1.0))  # 16 MiB of data at 8 MiB/s: about 2 s of copying
        assert proc.poll() is None and not dest.exists(), "the kill must land mid-copy"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30  # the orphan check: qemu-img dies with its parent
        while qemu_img_working_in(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert qemu_img_working_in(tmp_path) == set(), "qemu-img outlived a killed diskscope"
        assert not dest.exists(), "a killed conversion never places its output"
        again = _cli("convert", str(source), str(dest), "-O", "qcow2", "-q")
        _out, err = again.communicate(timeout=300)
        assert again.returncode == 0, err
        qemu_img("compare", "-f", "raw", "-F", "qcow2", source, dest)
        # the next job in the folder removed the killed one's private folder and its partial file
        assert list(tmp_path.glob(".diskscope-*")) == []
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_sigkill_during_fetch_to_raw_resumes_byte_identical(tmp_path: Path) -> None:
    raw = raw_file(tmp_path / "src.raw", 32 * MiB)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw, tmp_path / "src.qcow2")
    data = (tmp_path / "src.qcow2").read_bytes()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    rng = random.Random(2)
    with serving() as server:
        for point in range(KILL_POINTS):
            name = f"img{point}.qcow2"  # the server is slow on a path's first request only
            server.files[name] = data
            out = tmp_path / f"f{point}"
            out.mkdir()
            dest = out / "img.raw"
            proc = _cli("fetch", server.url(name, "slow"), str(dest), "--checksum", checksum, "-q")
            deadline = time.monotonic() + 60
            while not _downloaded(out) and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 1.5))  # about 8 MiB at 1.3 MB/s: some 6 s of downloading
            assert proc.poll() is None and 0 < _downloaded(out) < len(data), "the kill must land mid-download"
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert 0 < _downloaded(out) < len(data), "a killed download keeps its part for the resume"
            assert not dest.exists()
            again = _cli("fetch", server.url(name), str(dest), "--checksum", checksum, "-q", "--json")
            _stdout, err = again.communicate(timeout=300)
            assert again.returncode == 0, err
            assert dest.read_bytes() == raw.read_bytes()
            # the resumed fetch leaves no partial name or sidecar beside the destination
            left = [p.name for p in out.iterdir() if not p.name.startswith(".diskscope-")]
            assert left == ["img.raw"]


@pytest.mark.parametrize("fault", ["reset", "trickle", "longer"])
def test_network_misbehaviour(tmp_path: Path, fault: str) -> None:
    data = random.Random(fault).randbytes(2 * MiB)
    with serving() as server:
        server.files["d.img"] = data
        expect = Expectation(checksums=(parse_checksum("sha256:" + hashlib.sha256(data).hexdigest()),))
        request = DownloadRequest(server.url("d.img", fault), tmp_path / "d.img", HttpOptions(read_timeout=5),
                                  expect, backoff=0.01)  # fmt: skip
        if fault == "longer":  # Content-Length promises less than the image: the checksum refuses
            with pytest.raises(ChecksumMismatch):
                Download(request).run()
            assert list(tmp_path.iterdir()) == []
        else:
            assert Download(request).run().part.read_bytes() == data


def test_source_replaced_after_inspection_is_noticed(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 16 * MiB)
    evil = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", evil, "16M")
    swapped = []

    def swap(p: Progress) -> None:  # just before qemu-img starts
        if p.phase == "converting" and not swapped:
            os.replace(evil, source)
            swapped.append(True)

    with pytest.raises(SourceChanged):
        ConvertJob(ConvertRequest(source, tmp_path / "o.raw", "raw"), QemuImg(), on_progress=swap).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_source_truncated_or_deleted_mid_conversion(tmp_path: Path) -> None:
    for action in ("truncate", "delete"):
        source = raw_file(tmp_path / f"{action}.raw", 64 * MiB)

        def hit(p: Progress, source: Path = source, action: str = action) -> None:
            if p.phase == "converting" and p.done > 0 and source.exists():
                if action == "truncate":
                    os.truncate(source, MiB)
                else:
                    source.unlink()

        request = ConvertRequest(source, tmp_path / f"{action}.qcow2", "qcow2", rate_limit=32 * MiB)
        with pytest.raises(SourceChanged):
            ConvertJob(request, QemuImg(), on_progress=hit).run()
        assert not (tmp_path / f"{action}.qcow2").exists()
        assert not (tmp_path / f"{action}.qcow2.part").exists()


EDGE_NAMES = ["with space.qcow2", "new\nline.qcow2", "ünïcødé ✓.qcow2", "-f", "--help", "a:b:c.qcow2",
              "nbd:127.0.0.1:1", "x" * 200 + ".qcow2"]  # fmt: skip


@pytest.mark.parametrize("name", EDGE_NAMES, ids=[repr(n)[:20] for n in EDGE_NAMES])
def test_paths_at_the_edges(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    qemu_img("create", "-q", "-f", "qcow2", path, "16M")
    done = subprocess.run([sys.executable, "-m", "diskscope", "info", "--json", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["path"] == str(path)
    out = tmp_path / f"out-{abs(hash(name))}.raw"
    ConvertJob(ConvertRequest(path, out, "raw"), QemuImg()).run()
    assert out.stat().st_size == 16 * MiB


def test_hanging_qemu_img_is_stopped_and_leaves_nothing(tmp_path: Path) -> None:
    """A stand-in that sleeps, as a qemu-img stuck on dead storage would."""
    from diskscope.core.errors import QemuImgLimitExceeded
    from diskscope.core.qemu.process import Limits

    stand_in = tmp_path / "qemu-img"
    stand_in.write_text("#!/bin/sh\nsleep 600\n")
    stand_in.chmod(0o755)
    before = child_pids()
    with pytest.raises(QemuImgLimitExceeded):
        QemuImg(str(stand_in), Limits(wall_seconds=0.5)).run(["info"])
    assert child_pids() - before == set()


def test_a_killed_jobs_folder_is_swept_and_nothing_else(tmp_path: Path) -> None:
    """Private folders another job left: only our user's, naming a process of this host that is
    gone, are removed by the next job in the folder; the note is written by hand here because a
    crash of another host or user cannot be caused on this machine."""
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    dead = subprocess.Popen(["true"])
    dead.wait()
    host = os.uname().nodename

    def private(name: str, note: str | None, uid: int = 0) -> Path:
        folder = tmp_path / f".diskscope-{name}"
        folder.mkdir(mode=0o700)
        (folder / "o.raw.part").write_bytes(b"partial")
        if note is not None:
            (folder / "owner").write_text(note)
        for p in (folder, *folder.iterdir()):
            os.chown(p, uid, uid)
        return folder

    killed = private("killed", f"{host} {boot} {dead.pid} 12345")
    rebooted = private("rebooted", f"{host} 00000000-0000-0000-0000-000000000000 1 1")
    elsewhere = private("elsewhere", f"other-host {boot} {dead.pid} 12345")
    unnoted = private("unnoted", None)
    nobodys = private("nobodys", f"{host} {boot} {dead.pid} 12345", uid=65534)
    source = raw_file(tmp_path / "s.raw", MiB)
    ConvertJob(ConvertRequest(source, tmp_path / "o.raw", "raw"), QemuImg()).run()
    assert not killed.exists() and not rebooted.exists()
    assert all(p.exists() for p in (elsewhere, unnoted, nobodys))
    assert (nobodys / "o.raw.part").read_bytes() == b"partial"
