"""Conversion against someone who can touch its files: a source rewritten after it was
checked, planted and raced partial-file names in shared folders, two conversions to one
destination, device and link destinations, SIGTERM and SIGHUP, and a qemu-img that stalls.

The attackers are real: `nobody` processes (setpriv), second diskscope processes, real
signals, real qemu-img under strace.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.convert.verification import Verification
from diskscope.core.errors import ConversionStalled, InvalidPath, SourceChanged
from diskscope.core.placement import DestinationChanged, UnsuitableDestination
from diskscope.core.progress import Progress
from diskscope.core.qemu.commands import ConvertSpec
from diskscope.core.qemu.process import _StallWatch
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import MiB, create, qemu_img, qemu_img_working_in, raw_file
from proc import child_pids

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-c"]
WAIT = 120  # seconds; only to stop a hang, never a measurement


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def one_sentence(text: str) -> None:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text


class Attacker:
    """A Python process running as `nobody`: it does its move when told, then says done."""

    def __init__(self, code: str) -> None:
        self.proc = subprocess.Popen(
            [*NOBODY, code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def say(self, line: str = "go") -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def finish(self) -> str:
        out, _ = self.proc.communicate("stop\n", timeout=WAIT)
        return out.strip()


@pytest.fixture
def shared_root() -> Iterator[Path]:
    """A folder under /tmp that `nobody` can reach (pytest's own tmp_path is 0700 root)."""
    base = Path(tempfile.mkdtemp(prefix="diskscope-attack-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def shared_folder(base: Path, mode: int) -> Path:
    folder = base / "shared"
    folder.mkdir()
    folder.chmod(mode)
    return folder


# -- a source that changes after it was checked -----------------------------------------------


def _secret_and_overlay(folder: Path) -> tuple[Path, Path]:
    secret = folder / "host-secret"
    secret.write_bytes(b"HOST SECRET " * (MiB // 12) + b"\0" * (MiB % 12))
    overlay = folder / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", secret, "-F", "raw", "-u", overlay, "1M")
    return secret, overlay


def test_header_rewritten_after_inspection_with_mtime_put_back(shared_root: Path) -> None:
    """The owner of the image, as `nobody`, waits until Diskscope has inspected it, writes a
    qcow2 header that names a host file as backing (same size) and puts the mtime back."""
    tmp_path = shared_root
    _secret, overlay = _secret_and_overlay(tmp_path)
    source = create(tmp_path / "disk.qcow2", "qcow2", "1M")
    assert source.read_bytes()[65536:] == overlay.read_bytes()[65536:], "same layout after the header"
    os.chown(source, 65534, 65534)
    before = source.stat()
    attacker = Attacker(f"""
import os, sys
sys.stdin.readline()
p = {str(source)!r}
st = os.stat(p)
with open(p, "r+b") as f:
    f.write(open({str(overlay)!r}, "rb").read(65536))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
print("done", flush=True)
sys.stdin.readline()
""")
    attacked: list[str] = []

    def on_progress(p: Progress) -> None:  # inspected, checked; qemu-img starts next
        if p.phase == "converting" and not attacked:
            attacked.append(attacker.say())

    with pytest.raises(SourceChanged) as exc:
        ConvertJob(
            ConvertRequest(source, tmp_path / "o.raw", "raw"), QemuImg(), on_progress=on_progress
        ).run()
    attacker.finish()
    assert attacked == ["done"]
    one_sentence(str(exc.value))
    after = source.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns), "the attack hid itself"
    assert after.st_ctime_ns != before.st_ctime_ns
    assert names(tmp_path) == ["disk.qcow2", "evil.qcow2", "host-secret"]


def test_qemu_img_never_opens_a_backing_file_it_was_not_given(tmp_path: Path) -> None:
    """The rewritten overlay handed straight to the runner: under strace, no qemu-img call
    opens the host file it names (and the control run without our reference does)."""
    strace, real = shutil.which("strace"), shutil.which("qemu-img")
    if strace is None or real is None:
        pytest.skip("strace is not installed")
    secret, overlay = _secret_and_overlay(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    wrapper = tmp_path / "qemu-img"
    wrapper.write_text(
        f'#!/bin/sh\nexec {strace} -f -qq -e trace=open,openat,openat2 -o {logs}/$$ {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    qemu = QemuImg(str(wrapper))
    assert qemu.info(overlay, "qcow2").backing_filename == str(secret)  # the header does name it
    qemu.probe_info(overlay)
    qemu.check(overlay, "qcow2")
    qemu.map(overlay, "qcow2", max_length=MiB)
    qemu.measure(overlay, "qcow2", "raw")
    assert qemu.compare(overlay, "qcow2", overlay, "qcow2")
    spec = ConvertSpec(str(overlay), "qcow2", str(tmp_path / "out.raw"), "raw")
    with tempfile.TemporaryFile() as err:
        assert qemu.start(qemu.convert_args(spec), qemu.limits, err).wait() == 0
    assert (tmp_path / "out.raw").read_bytes() == bytes(MiB)  # zeros: not the host file
    traced = [log.read_text() for log in logs.iterdir()]
    assert len(traced) == 7 and all(str(overlay) in log for log in traced)
    assert not any(str(secret) in log for log in traced)
    subprocess.run(
        [wrapper, "convert", "-f", "qcow2", "-O", "raw", overlay, tmp_path / "plain.raw"], check=True
    )
    assert sum(str(secret) in log.read_text() for log in logs.iterdir()) == 1, "the control run must see it"


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "qed", "vmdk", "vpc", "vhdx", "vdi", "qcow", "parallels"])
def test_every_creatable_format_opens_through_the_reference(tmp_path: Path, fmt: str) -> None:
    path = create(tmp_path / f"d.{fmt}", fmt, "1M")
    qemu = QemuImg()
    assert qemu.info(path, fmt).format == fmt
    qemu.check(path, fmt)
    assert sum(e.length for e in qemu.map(path, fmt, max_length=MiB)) == MiB
    assert qemu.measure(path, fmt, "qcow2").required > 0
    assert qemu.compare(path, fmt, path, fmt)


def test_paths_with_quotes_commas_and_unicode(tmp_path: Path) -> None:
    source = raw_file(tmp_path / 'a,b"c\\d {x} ✓ 😀.raw', 4 * MiB)
    out = tmp_path / 'o,"ü" drive=file,.qcow2'
    result = ConvertJob(ConvertRequest(source, out, "qcow2", verify=Verification.FULL), QemuImg()).run()
    assert "qemu-img compare: identical to the source" in result.checks
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, out)


def test_a_path_that_is_not_utf8_is_refused_in_one_sentence(tmp_path: Path) -> None:
    source = Path(os.fsdecode(os.fsencode(tmp_path) + b"/bad\xff.qcow2"))
    create(source, "qcow2", "1M")
    with pytest.raises(InvalidPath) as exc:
        QemuImg().info(source, "qcow2")
    one_sentence(str(exc.value))


# -- partial files ----------------------------------------------------------------------------


def test_a_source_named_like_the_partial_file_is_never_deleted(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "vm.img.part", 8 * MiB)
    data = source.read_bytes()
    ConvertJob(ConvertRequest(source, tmp_path / "vm.img", "raw"), QemuImg()).run()
    assert source.read_bytes() == data
    assert (tmp_path / "vm.img").read_bytes() == data
    assert names(tmp_path) == ["vm.img", "vm.img.part"]


def test_an_unrelated_file_named_dst_part_is_left_alone(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 8 * MiB)
    (tmp_path / "o.qcow2.part").write_bytes(b"precious")
    ConvertJob(ConvertRequest(source, tmp_path / "o.qcow2", "qcow2"), QemuImg()).run()
    assert (tmp_path / "o.qcow2.part").read_bytes() == b"precious"
    assert names(tmp_path) == ["o.qcow2", "o.qcow2.part", "s.raw"]


@pytest.mark.parametrize("mode", [0o777, 0o1777], ids=["0777", "sticky"])
def test_nobody_racing_a_part_symlink_in_a_shared_folder(shared_root: Path, mode: int) -> None:
    """`nobody` keeps a symlink to a root-owned file at DST.part, re-planting it the moment
    it disappears; the conversion must never write through it, nor remove it."""
    folder = shared_folder(shared_root, mode)
    victim = shared_root / "victim"
    victim.write_bytes(b"root's file")
    source = raw_file(shared_root / "s.raw", 32 * MiB)
    part = folder / "o.raw.part"
    attacker = Attacker(f"""
import os, sys, threading
stop, planted = threading.Event(), [0]
def plant():
    while not stop.is_set():
        try:
            os.symlink({str(victim)!r}, {str(part)!r})
            planted[0] += 1
        except FileExistsError:
            pass
threading.Thread(target=plant).start()
while not planted[0]:
    pass
print("ready", flush=True)
sys.stdin.readline()
stop.set()
print(planted[0], flush=True)
""")
    assert attacker.proc.stdout is not None and attacker.proc.stdout.readline().strip() == "ready"
    try:
        ConvertJob(ConvertRequest(source, folder / "o.raw", "raw"), QemuImg()).run()
    finally:
        planted = attacker.finish()
    assert victim.read_bytes() == b"root's file"
    assert planted == "1", "the planted link was removed and planted again"
    assert os.readlink(part) == str(victim)
    assert (folder / "o.raw").read_bytes() == source.read_bytes()
    assert names(folder) == ["o.raw", "o.raw.part"]


def test_nobody_swapping_our_private_folder_name(shared_root: Path) -> None:
    """In a 0777 folder `nobody` can rename our private folder and put its own in its place,
    with DST.part there a link to a root-owned file. qemu-img still writes in our folder
    (reached by descriptor), and the job stops instead of placing anything."""
    folder = shared_folder(shared_root, 0o777)
    victim = shared_root / "victim"
    victim.write_bytes(b"root's file")
    source = raw_file(shared_root / "s.raw", 16 * MiB)
    attacker = Attacker(f"""
import os, sys
sys.stdin.readline()
folder = {str(folder)!r}
ours = [n for n in os.listdir(folder) if n.startswith(".diskscope-")]
os.rename(os.path.join(folder, ours[0]), os.path.join(folder, ".moved"))
os.mkdir(os.path.join(folder, ours[0]), 0o777)
os.symlink({str(victim)!r}, os.path.join(folder, ours[0], "o.raw.part"))
print("done", flush=True)
sys.stdin.readline()
""")
    swapped: list[str] = []

    def on_progress(p: Progress) -> None:  # our folder exists; qemu-img starts next
        if p.phase == "converting" and not swapped:
            swapped.append(attacker.say())

    with pytest.raises(DestinationChanged) as exc:
        ConvertJob(ConvertRequest(source, folder / "o.raw", "raw"), QemuImg(), on_progress=on_progress).run()
    attacker.finish()
    assert swapped == ["done"]
    one_sentence(str(exc.value))
    assert victim.read_bytes() == b"root's file"
    assert not (folder / "o.raw").exists()
    assert os.listdir(folder / ".moved") == [], "our partial file was removed"


def _cli(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "diskscope", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def test_two_conversions_to_one_destination(tmp_path: Path) -> None:
    sources = [raw_file(tmp_path / f"s{i}.raw", 64 * MiB) for i in (1, 2)]
    dest = tmp_path / "o.qcow2"
    procs = [_cli("convert", s, dest, "-O", "qcow2", "--rate-limit", str(16 * MiB), "-q") for s in sources]
    deadline, overlapped = time.monotonic() + WAIT, False
    while not overlapped and time.monotonic() < deadline and all(p.poll() is None for p in procs):
        overlapped = len(list(tmp_path.glob(".diskscope-*/o.qcow2.part"))) == 2
        time.sleep(0.02)
    results = [(p.wait(timeout=WAIT), p.communicate()[1]) for p in procs]
    assert overlapped, "both conversions must have been writing at once"
    assert sorted(rc for rc, _ in results) == [0, 2], results
    winner = sources[[rc for rc, _ in results].index(0)]
    loser_err = next(err for rc, err in results if rc == 2)
    one_sentence(loser_err)
    assert "appeared while the job ran" in loser_err
    qemu_img("compare", "-f", "raw", "-F", "qcow2", winner, dest)
    assert names(tmp_path) == ["o.qcow2", "s1.raw", "s2.raw"]


def test_overwrite_never_replaces_a_device_node(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 4 * MiB)
    device = tmp_path / "null"
    os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    with pytest.raises(UnsuitableDestination) as exc:
        ConvertJob(ConvertRequest(source, device, "raw", overwrite=True), QemuImg()).run()
    one_sentence(str(exc.value))
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert names(tmp_path) == ["null", "s.raw"]


def test_overwrite_refuses_a_symlink_destination(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 4 * MiB)
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    link = tmp_path / "o.raw"
    link.symlink_to(target)
    with pytest.raises(UnsuitableDestination, match="symbolic link"):
        ConvertJob(ConvertRequest(source, link, "raw", overwrite=True), QemuImg()).run()
    assert os.readlink(link) == str(target) and target.read_bytes() == b"keep"


def test_destination_turned_into_a_device_during_the_conversion(tmp_path: Path) -> None:
    """Checked again at placement: a device node that appears at DST is never replaced."""
    source = raw_file(tmp_path / "s.raw", 32 * MiB)
    dest = tmp_path / "o.qcow2"
    dest.write_bytes(b"old")

    def on_progress(p: Progress) -> None:
        if p.phase == "verifying output" and not stat.S_ISCHR(os.lstat(dest).st_mode):
            dest.unlink()
            os.mknod(dest, stat.S_IFCHR | 0o600, os.makedev(1, 3))

    with pytest.raises(UnsuitableDestination):
        ConvertJob(
            ConvertRequest(source, dest, "qcow2", overwrite=True), QemuImg(), on_progress=on_progress
        ).run()
    assert stat.S_ISCHR(os.lstat(dest).st_mode)
    assert names(tmp_path) == ["o.qcow2", "s.raw"]


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_cancel_like_ctrl_c(tmp_path: Path, signo: int) -> None:
    source = raw_file(tmp_path / "s.raw", 128 * MiB)
    proc = _cli("convert", source, tmp_path / "o.qcow2", "-O", "qcow2", "--rate-limit", str(4 * MiB), "-q")
    sizes: list[int] = []
    deadline = time.monotonic() + WAIT
    while len(set(sizes)) < 2 and time.monotonic() < deadline and proc.poll() is None:
        parts = list(tmp_path.glob(".diskscope-*/o.qcow2.part"))
        if parts:
            sizes.append(parts[0].stat().st_blocks)
        time.sleep(0.05)
    assert len(set(sizes)) >= 2 and proc.poll() is None, "the partial file must be growing"
    assert qemu_img_working_in(tmp_path), "qemu-img is at work when the signal arrives"
    proc.send_signal(signo)
    _out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 128 + signo, err
    one_sentence(err)
    assert "The conversion was cancelled; its partial output was removed." in err
    assert names(tmp_path) == ["s.raw"]
    assert qemu_img_working_in(tmp_path) == set()


# -- stalls -----------------------------------------------------------------------------------


def test_a_stalled_qemu_img_is_stopped(tmp_path: Path, small_filesystem: Path) -> None:
    """A 1 EiB sparse raw on tmpfs: all holes, so it passes the space check, and qemu-img
    then spins at 0 % for hours, reading and writing nothing."""
    source = small_filesystem / "huge.raw"
    with open(source, "wb") as f:
        f.truncate(1 << 60)
    before = child_pids()
    request = ConvertRequest(source, small_filesystem / "o.raw", "raw", stall_timeout=2)
    with pytest.raises(ConversionStalled) as exc:
        ConvertJob(request, QemuImg()).run()
    one_sentence(str(exc.value))
    assert names(small_filesystem) == ["huge.raw"]
    assert child_pids() - before == set()


def test_rising_progress_without_io_is_no_stall() -> None:
    """qemu-img skipping holes moves its percentage without reading or writing: not a stall.
    (Found by the mutation run, docs/mutation.md. A real process that does no I/O, `sleep`,
    stands for such a qemu-img; the watch is checked straight after each rise, so the check
    cannot depend on how fast this machine is.)"""
    idle = subprocess.Popen(["sleep", "60"])
    try:
        watch = _StallWatch(idle.pid, timeout=0.05)
        for percent in range(1, 11):
            time.sleep(0.1)  # longer than the timeout, and no I/O
            watch.advanced(float(percent))
            watch.check()
        time.sleep(0.1)
        with pytest.raises(ConversionStalled):
            watch.check()  # and then neither moves: a stall
    finally:
        idle.kill()
        idle.wait()


def test_stall_timeout_from_the_command_line(tmp_path: Path, small_filesystem: Path) -> None:
    source = small_filesystem / "huge.raw"
    with open(source, "wb") as f:
        f.truncate(1 << 60)
    done = subprocess.run([sys.executable, "-m", "diskscope", "convert", str(source),
                           str(small_filesystem / "o.raw"), "-O", "raw", "--stall-timeout", "2", "--json"],
                          capture_output=True, text=True, timeout=WAIT)  # fmt: skip
    assert done.returncode == 2, done.stderr
    one_sentence(done.stderr)
    assert "no progress" in done.stderr and done.stdout == ""
    assert names(small_filesystem) == ["huge.raw"]
