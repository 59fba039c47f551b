"""How every qemu-img process runs: stdin from /dev/null, a clean C-locale environment,
a process group of its own, CPU-time and address-space limits applied by util-linux
`prlimit` (never `preexec_fn`, which can deadlock in a threaded program), and setpriv's
parent-death signal, so that qemu-img never outlives a killed Diskscope. A death by one
of those limits, or a failed run, becomes a typed exception here.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from subprocess import Popen
from typing import IO, Any

from ..errors import Cancelled, ConversionStalled, QemuImgError, QemuImgLimitExceeded, QemuImgNotFound

_MEMORY_SIGNS = (
    "cannot allocate memory",
    "failed to allocate",
    "failed to map segment",
    "out of memory",
)
_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


@dataclass(frozen=True)
class Limits:
    """Resource limits for one qemu-img process."""

    cpu_seconds: int = 30
    memory_bytes: int = 2 << 30
    wall_seconds: float | None = 120.0
    file_size_bytes: int | None = None  # RLIMIT_FSIZE: what a file qemu-img writes may reach


INSPECTION_LIMITS = Limits()
# A conversion may legitimately run for hours (compression, slow disks); memory stays bounded.
CONVERSION_LIMITS = Limits(cpu_seconds=24 * 3600, memory_bytes=4 << 30, wall_seconds=None)


@dataclass(frozen=True)
class Completed:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def _environment() -> dict[str, str]:
    """A clean environment: C locale, and no tokens or other secrets of ours."""
    return {"LC_ALL": "C", "LANG": "C", "PATH": os.environ.get("PATH", os.defpath)}


class Launcher:
    """Starts a command under the limits wrapper (setpriv, then prlimit)."""

    def __init__(self) -> None:
        prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
        if prlimit is None or setpriv is None:
            raise QemuImgNotFound(
                "prlimit and setpriv (util-linux) are missing, and qemu-img is never run without "
                "limits; install util-linux."
            )
        self._prlimit, self._setpriv = prlimit, setpriv

    def _limit_prefix(self, limits: Limits) -> list[str]:
        """setpriv: qemu-img dies with the thread that started it (even by SIGKILL), so a
        killed Diskscope leaves no orphan writing on; prlimit: the resource limits."""
        prefix = [self._setpriv, "--pdeathsig", "KILL", "--", self._prlimit,
                  f"--cpu={limits.cpu_seconds}", f"--as={limits.memory_bytes}"]  # fmt: skip
        if limits.file_size_bytes is not None:
            prefix.append(f"--fsize={limits.file_size_bytes}")
        return [*prefix, "--"]

    def start(self, argv: Sequence[str], limits: Limits, stderr: IO[bytes]) -> Popen[bytes]:
        """Start `argv` with every rule applied; stdout is a pipe, stderr goes to `stderr`."""
        return subprocess.Popen(
            [*self._limit_prefix(limits), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_environment(),
            start_new_session=True,
        )

    def run(self, argv: Sequence[str], limits: Limits, what: str) -> Completed:
        """Run `argv` to completion; raise QemuImgLimitExceeded if a limit stopped it."""
        proc = subprocess.Popen(
            [*self._limit_prefix(limits), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=_environment(),
            start_new_session=True,
            text=True,
            errors="replace",
        )
        try:
            stdout, stderr = proc.communicate(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            raise QemuImgLimitExceeded(
                f"qemu-img {what} took longer than {limits.wall_seconds:g} s and was stopped."
            ) from None
        except BaseException:
            kill_group(proc)
            raise
        done = Completed(tuple(argv), proc.returncode, stdout, stderr)
        raise_if_limited(done, limits, what)
        return done


def raise_if_limited(done: Completed, limits: Limits, what: str) -> None:
    """Turn a death by one of our limits into QemuImgLimitExceeded."""
    too_large = limits.file_size_bytes is not None and "File too large" in done.stderr
    if done.returncode == -signal.SIGXFSZ or (done.returncode != 0 and too_large):
        raise QemuImgLimitExceeded(
            f"qemu-img {what} reached the {limits.file_size_bytes} byte file size limit and was stopped.",
            returncode=done.returncode,
            stderr=done.stderr,
        )
    if done.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        raise QemuImgLimitExceeded(
            f"qemu-img {what} used more than its {limits.cpu_seconds} s CPU-time limit and was stopped.",
            returncode=done.returncode,
            stderr=done.stderr,
        )
    lowered = done.stderr.lower()
    if done.returncode != 0 and any(sign in lowered for sign in _MEMORY_SIGNS):
        raise QemuImgLimitExceeded(
            f"qemu-img {what} ran out of its {limits.memory_bytes >> 20} MiB memory limit and was stopped.",
            returncode=done.returncode,
            stderr=done.stderr,
        )


def last_line(stderr: str) -> str:
    """qemu-img's last line of stderr, without its `qemu-img: ` prefix."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "no message"
    return re.sub(r"^qemu-img: ", "", lines[-1]).rstrip(".")


def failure(done: Completed) -> QemuImgError:
    """The one error for a qemu-img run that failed: its last line of stderr, in a sentence."""
    what = done.argv[1] if len(done.argv) > 1 else "qemu-img"
    return QemuImgError(
        f"qemu-img {what} failed: {last_line(done.stderr)}.",
        returncode=done.returncode,
        stderr=done.stderr,
    )


def follow_progress(
    proc: Popen[bytes],
    on_progress: Callable[[float], None],
    cancel: threading.Event,
    stall_timeout: float | None,
) -> None:
    """Read `convert -p` progress (chunks end in a carriage return) until qemu-img exits."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buffer = b""
    stall = _StallWatch(proc.pid, stall_timeout)
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while True:
            if cancel.is_set():
                raise Cancelled("qemu-img convert was cancelled.")
            stall.check()
            if not selector.select(timeout=0.1):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            buffer += chunk
            *pieces, buffer = re.split(rb"[\r\n]", buffer)
            for piece in pieces:
                match = _PROGRESS.search(piece)
                if match:
                    on_progress(float(match[1]))
                    stall.advanced(float(match[1]))
    proc.wait()
    if cancel.is_set():
        raise Cancelled("qemu-img convert was cancelled.")


class _StallWatch:
    """Whether qemu-img still moves: its progress, or the bytes it reads and writes
    (/proc/PID/io), must change within `timeout` seconds. A disk of an exabyte of holes
    makes qemu-img spin for hours at 0 % with neither."""

    def __init__(self, pid: int, timeout: float | None) -> None:
        self.io_path = f"/proc/{pid}/io"
        self.timeout = timeout
        self.last = (-1.0, self._io())
        self.since = time.monotonic()

    def _io(self) -> int:
        try:
            with open(self.io_path) as f:
                fields = dict(line.split(":", 1) for line in f)
        except (OSError, ValueError):
            return -1
        return int(fields.get("rchar", -1)) + int(fields.get("wchar", -1))

    def advanced(self, percent: float) -> None:
        if percent > self.last[0]:
            self.last, self.since = (percent, self.last[1]), time.monotonic()

    def check(self) -> None:
        if self.timeout is None:
            return
        io = self._io()
        if io != self.last[1]:
            self.last, self.since = (self.last[0], io), time.monotonic()
        elif time.monotonic() - self.since > self.timeout:
            raise ConversionStalled(
                f"qemu-img made no progress and did no I/O for {self.timeout:g} s and was stopped; "
                "the image may be too large to convert (see --stall-timeout)."
            )


def stop(proc: Popen[bytes]) -> None:
    """Terminate a child's process group, wait, kill if it must, always reap (a conversion
    gets the chance to end cleanly; `kill_group` is for runs that have no output to keep)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        kill_group(proc)
    if proc.stdout is not None:
        proc.stdout.close()


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """Kill a child's whole process group and reap the child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
