"""The one place that builds and runs qemu-img command lines.

Every call: an argv list, user images named by `image_reference` (a `json:` filename
that names the driver and the file and cuts off any backing file), an explicit
`-f FORMAT`, `--output=json`
where qemu-img has it, `-U` (force share) for read-only inspection, `LC_ALL=C`,
stdin from /dev/null, a process group of its own, and CPU-time and address-space
limits applied by util-linux `prlimit` (never `preexec_fn`, which can deadlock
in a threaded program), and setpriv's parent-death signal, so that qemu-img never
outlives a killed Diskscope. Exit codes become typed exceptions here.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from subprocess import Popen
from typing import IO, Any

from ..errors import (
    Cancelled,
    ConversionStalled,
    InvalidPath,
    MeasureUnsupported,
    NotEnoughSpace,
    QemuImgError,
    QemuImgLimitExceeded,
    QemuImgNotFound,
)
from ..text import printable
from .byte_range import FileRange, ImageSource
from .image_info import ImageInfo, parse_info_json

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with `apt-get install qemu-utils` (Debian, Ubuntu), "
    "`dnf install qemu-img` (Fedora, RHEL) or `zypper install qemu-tools` (openSUSE)"
)
_MEMORY_SIGNS = (
    "cannot allocate memory",
    "failed to allocate",
    "failed to map segment",
    "out of memory",
)


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


class CheckStatus(StrEnum):
    CLEAN = "clean"
    LEAKS = "leaks"
    CORRUPT = "corrupt"
    INCOMPLETE = "incomplete"
    UNSUPPORTED = "unsupported"


_CHECK_EXIT = {
    0: CheckStatus.CLEAN,
    1: CheckStatus.INCOMPLETE,
    2: CheckStatus.CORRUPT,
    3: CheckStatus.LEAKS,
    63: CheckStatus.UNSUPPORTED,
}


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    exit_code: int
    corruptions: int = 0
    leaks: int = 0
    check_errors: int = 0
    total_clusters: int | None = None
    allocated_clusters: int | None = None
    fragmented_clusters: int | None = None
    compressed_clusters: int | None = None
    image_end_offset: int | None = None
    detail: str = ""

    @property
    def summary(self) -> str:
        """One sentence in plain words."""
        if self.status == CheckStatus.CLEAN:
            return "No errors were found on the image."
        if self.status == CheckStatus.LEAKS:
            return (
                f"{self.leaks} leaked clusters were found: space is wasted but no data is at "
                "risk; a repair (qemu-img check -r leaks) reclaims it."
            )
        if self.status == CheckStatus.CORRUPT:
            return (
                f"{self.corruptions} corruptions were found: data may be lost; restore the "
                "image from a good copy rather than repair it."
            )
        if self.status == CheckStatus.UNSUPPORTED:
            return "This image format has no integrity metadata to check."
        return f"The check could not be completed: {self.detail or 'internal error'}."


@dataclass(frozen=True)
class MapExtent:
    start: int
    length: int
    depth: int
    present: bool
    zero: bool
    data: bool
    offset: int | None = None


@dataclass(frozen=True)
class Measurement:
    required: int
    fully_allocated: int
    bitmaps: int | None = None


@dataclass(frozen=True)
class ConvertSpec:
    """Everything that goes on a `qemu-img convert` command line."""

    source: str | FileRange
    source_format: str
    target: str
    target_format: str
    options: tuple[str, ...] = ()
    compress: bool = False
    no_create: bool = False  # the target exists already (made with `create`)
    cache: str = "writeback"
    source_cache: str = "writeback"
    coroutines: int = 8
    out_of_order: bool = False
    rate_limit: int | None = None  # bytes per second, for throttled runs
    source_chain: tuple[tuple[str, str], ...] = ()  # backing layers (path, format) to follow


def absolute(path: str | os.PathLike[str]) -> str:
    """An absolute path, so that `-f`, `json:{...}` or `nbd:x` can only mean a file."""
    text = os.fspath(path)
    if "\0" in text:
        raise ValueError("A path cannot contain a NUL byte.")
    return os.path.abspath(text)


def image_reference(path: ImageSource, fmt: str | None, chain: Sequence[tuple[str, str]] = ()) -> str:
    """How every user image is named to qemu-img: a `json:` filename that names the driver
    (None: qemu probes) and the file, and ends the backing chain where we say.

    `chain` lists the backing layers below the image, (path, format) each, exactly as they
    were inspected; empty, the image has no backing at all, even if its header names one
    that was written after we looked. (An external data file cannot be switched off this
    way in qemu 7.2: the source's identity check is what guards against one.) Built with
    json.dumps, so quotes, commas and any Unicode in a path stay one string. A FileRange
    is read in place, through a raw node that exposes only its bytes.
    """
    node: dict[str, Any] | None = None
    for layer, layer_format in reversed(chain):
        node = _image_node(layer, layer_format, node)
    return "json:" + json.dumps(_image_node(path, fmt, node))


def _image_node(path: ImageSource, fmt: str | None, backing: dict[str, Any] | None) -> dict[str, Any]:
    node: dict[str, Any] = {"driver": fmt} if fmt else {}
    node.update(backing=backing, file=file_node(path))
    return node


def file_node(path: ImageSource) -> dict[str, Any]:
    """The protocol node that reads the image's bytes: the file, or a range of it."""
    filename = absolute(path.path if isinstance(path, FileRange) else path)
    try:
        filename.encode()
    except UnicodeEncodeError:
        raise InvalidPath(
            f"The name {printable(filename)} is not valid UTF-8, so qemu-img cannot be given it; "
            "rename the file."
        ) from None
    whole = {"driver": "file", "filename": filename}
    return path.node(whole) if isinstance(path, FileRange) else whole


def _environment() -> dict[str, str]:
    """A clean environment: C locale, and no tokens or other secrets of ours."""
    return {"LC_ALL": "C", "LANG": "C", "PATH": os.environ.get("PATH", os.defpath)}


_PROGRESS = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


def _last_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    if not lines:
        return "no message"
    return re.sub(r"^qemu-img: ", "", lines[-1]).rstrip(".")


def failure(done: Completed) -> QemuImgError:
    """The one error for a qemu-img run that failed: its last line of stderr, in a sentence."""
    what = done.argv[1] if len(done.argv) > 1 else "qemu-img"
    return QemuImgError(
        f"qemu-img {what} failed: {_last_line(done.stderr)}.",
        returncode=done.returncode,
        stderr=done.stderr,
    )


class QemuImg:
    """A located qemu-img binary and the commands we run with it."""

    def __init__(self, binary: str | None = None, limits: Limits = INSPECTION_LIMITS) -> None:
        self.binary = self._locate(binary or "qemu-img")
        self.limits = limits
        prlimit, setpriv = shutil.which("prlimit"), shutil.which("setpriv")
        if prlimit is None or setpriv is None:
            raise QemuImgNotFound(
                "prlimit and setpriv (util-linux) are missing, and qemu-img is never run without "
                "limits; install util-linux."
            )
        self._prlimit, self._setpriv = prlimit, setpriv

    @staticmethod
    def _locate(binary: str) -> str:
        if os.sep in binary:
            if os.path.isfile(binary) and os.access(binary, os.X_OK):
                return os.path.abspath(binary)
            raise QemuImgNotFound(f"qemu-img was not found at {binary}; {INSTALL_HINT}.")
        found = shutil.which(binary)
        if found is None:
            raise QemuImgNotFound(f"qemu-img was not found on this system; {INSTALL_HINT}.")
        return found

    @cached_property
    def version(self) -> str:
        """The version number, e.g. `7.2.22`."""
        out = self.run(["--version"]).stdout
        match = re.search(r"version (\d+\.\d+(?:\.\d+)?)", out)
        if not match:
            raise QemuImgError(f"{self.binary} does not look like qemu-img: {out[:80]!r}.")
        return match[1]

    def command(self, args: Sequence[str]) -> list[str]:
        """The qemu-img argv (without the limits wrapper), for logs and for users to copy."""
        return [self.binary, *args]

    def start(self, args: Sequence[str], limits: Limits, stderr: IO[bytes]) -> Popen[bytes]:
        """Start qemu-img with every rule applied; stdout is a pipe, stderr goes to `stderr`."""
        argv = self.command(args)
        logger.info("running %s", shlex.join(argv))
        return subprocess.Popen(
            [*self._limit_prefix(limits), *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_environment(),
            start_new_session=True,
        )

    def run(self, args: Sequence[str], limits: Limits | None = None) -> Completed:
        """Run qemu-img to completion; raise QemuImgLimitExceeded if a limit stopped it."""
        limits = limits or self.limits
        argv = self.command(args)
        logger.info("running %s", shlex.join(argv))
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
                f"qemu-img {args[0]} took longer than {limits.wall_seconds:g} s and was stopped."
            ) from None
        except BaseException:
            kill_group(proc)
            raise
        done = Completed(tuple(argv), proc.returncode, stdout, stderr)
        self.raise_if_limited(done, limits, args[0])
        return done

    def _limit_prefix(self, limits: Limits) -> list[str]:
        """setpriv: qemu-img dies with the thread that started it (even by SIGKILL), so a
        killed Diskscope leaves no orphan writing on; prlimit: the resource limits."""
        prefix = [self._setpriv, "--pdeathsig", "KILL", "--", self._prlimit,
                  f"--cpu={limits.cpu_seconds}", f"--as={limits.memory_bytes}"]  # fmt: skip
        if limits.file_size_bytes is not None:
            prefix.append(f"--fsize={limits.file_size_bytes}")
        return [*prefix, "--"]

    @staticmethod
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
                f"qemu-img {what} ran out of its {limits.memory_bytes >> 20} MiB memory limit "
                "and was stopped.",
                returncode=done.returncode,
                stderr=done.stderr,
            )

    def _json(self, args: Sequence[str], limits: Limits | None = None) -> Any:
        done = self.run(args, limits)
        if done.returncode != 0:
            raise failure(done)
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise QemuImgError(f"qemu-img {args[0]} printed something that is not JSON.") from None

    # -- inspection ---------------------------------------------------------------------------

    def info_args(self, path: ImageSource, fmt: str) -> list[str]:
        return ["info", "-f", fmt, "--output=json", "-U", image_reference(path, fmt)]

    def info_json(self, path: ImageSource, fmt: str) -> Any:
        """Raw `qemu-img info` JSON of one image (never its backing chain)."""
        return self._json(self.info_args(path, fmt))

    def info(self, path: ImageSource, fmt: str) -> ImageInfo:
        data = self.info_json(path, fmt)
        try:
            return parse_info_json(data)
        except ValueError as exc:
            raise QemuImgError(f"qemu-img info output could not be read: {exc}") from None

    def probe_info(self, path: ImageSource) -> ImageInfo:
        """`info` with qemu's own format probe. Only for files that passed our safety gate."""
        data = self._json(["info", "--output=json", "-U", image_reference(path, None)])
        try:
            return parse_info_json(data)
        except ValueError as exc:
            raise QemuImgError(f"qemu-img info output could not be read: {exc}") from None

    def check_args(self, path: ImageSource, fmt: str) -> list[str]:
        return ["check", "-f", fmt, "--output=json", "-U", image_reference(path, fmt)]

    def check(self, path: ImageSource, fmt: str) -> CheckResult:
        done = self.run(self.check_args(path, fmt))
        status = _CHECK_EXIT.get(done.returncode)
        if status is None:
            raise failure(done)
        if status in (CheckStatus.UNSUPPORTED, CheckStatus.INCOMPLETE) and not done.stdout.strip():
            return CheckResult(status, done.returncode, detail=_last_line(done.stderr))
        try:
            data = json.loads(done.stdout)
        except ValueError:
            return CheckResult(status, done.returncode, detail=_last_line(done.stderr))
        return CheckResult(
            status=status,
            exit_code=done.returncode,
            corruptions=int(data.get("corruptions", 0)),
            leaks=int(data.get("leaks", 0)),
            check_errors=int(data.get("check-errors", 0)),
            total_clusters=data.get("total-clusters"),
            allocated_clusters=data.get("allocated-clusters"),
            fragmented_clusters=data.get("fragmented-clusters"),
            compressed_clusters=data.get("compressed-clusters"),
            image_end_offset=data.get("image-end-offset"),
            detail=_last_line(done.stderr) if done.stderr.strip() else "",
        )

    def map_args(
        self,
        path: ImageSource,
        fmt: str,
        *,
        max_length: int,
        start: int = 0,
        chain: Sequence[tuple[str, str]] = (),
    ) -> list[str]:
        return [
            "map", "-f", fmt, "--output=json", "-U", f"--start-offset={start}",
            f"--max-length={max_length}", image_reference(path, fmt, chain),
        ]  # fmt: skip

    def map(
        self,
        path: ImageSource,
        fmt: str,
        *,
        max_length: int,
        start: int = 0,
        max_extents: int = 200_000,
        chain: Sequence[tuple[str, str]] = (),
    ) -> list[MapExtent]:
        """Allocation extents of [start, start + max_length), at most `max_extents` of them."""
        data = self._json(self.map_args(path, fmt, max_length=max_length, start=start, chain=chain))
        if not isinstance(data, list):
            raise QemuImgError("qemu-img map printed something other than a list.")
        return [
            MapExtent(
                start=int(e["start"]),
                length=int(e["length"]),
                depth=int(e.get("depth", 0)),
                present=bool(e.get("present", e.get("data", False))),
                zero=bool(e.get("zero", False)),
                data=bool(e.get("data", False)),
                offset=e.get("offset"),
            )
            for e in data[:max_extents]
        ]

    def measure(
        self,
        path: ImageSource,
        fmt: str,
        target: str,
        options: Sequence[str] = (),
        chain: Sequence[tuple[str, str]] = (),
    ) -> Measurement:
        """The bytes a conversion to `target` needs; MeasureUnsupported where qemu-img cannot
        tell (the one place its message is read: qemu-img has no exit code for it)."""
        args = ["measure", "--output=json", "-f", fmt, "-O", target]
        if options:
            args += ["-o", ",".join(options)]
        try:
            data = self._json([*args, image_reference(path, fmt, chain)])
        except QemuImgError as exc:
            if "does not support size measurement" not in exc.stderr:
                raise
            raise MeasureUnsupported(str(exc), returncode=exc.returncode, stderr=exc.stderr) from None
        return Measurement(
            required=int(data["required"]),
            fully_allocated=int(data["fully-allocated"]),
            bitmaps=data.get("bitmaps"),
        )

    def compare(
        self,
        first: ImageSource,
        first_format: str,
        second: str | os.PathLike[str],
        second_format: str,
        limits: Limits | None = None,
        first_chain: Sequence[tuple[str, str]] = (),
    ) -> bool:
        """Whether both images hold the same guest data (qemu-img compare: 0 same, 1 differ)."""
        args = ["compare", "-q", "-U", "-f", first_format, "-F", second_format]
        refs = [image_reference(first, first_format, first_chain), image_reference(second, second_format)]
        done = self.run([*args, *refs], limits)
        if done.returncode in (0, 1):
            return done.returncode == 0
        raise failure(done)

    def convert_args(self, spec: ConvertSpec) -> list[str]:
        """The argv of one conversion, with progress (-p) on."""
        args = ["convert", "-p", "-U", "-f", spec.source_format, "-O", spec.target_format]
        if spec.compress:
            args.append("-c")
        if spec.no_create:
            args.append("-n")
        elif spec.options:
            args += ["-o", ",".join(spec.options)]
        args += ["-t", spec.cache, "-T", spec.source_cache]
        if spec.coroutines:
            args += ["-m", str(spec.coroutines)]
        if spec.out_of_order:
            args.append("-W")
        if spec.rate_limit:
            args += ["-r", str(spec.rate_limit)]
        source = image_reference(spec.source, spec.source_format, spec.source_chain)
        return [*args, source, absolute(spec.target)]

    def convert(
        self,
        spec: ConvertSpec,
        limits: Limits,
        on_progress: Callable[[float], None],
        cancel: threading.Event,
        stall_timeout: float | None = None,
    ) -> Completed:
        """Run one conversion to its end, reporting its percentage as qemu-img prints it.

        Cancel (the event) or a stall (no progress and no I/O for `stall_timeout` seconds)
        stops the process group and raises Cancelled or ConversionStalled; a full
        destination raises NotEnoughSpace; any other failure QemuImgError. The partial
        output is the caller's to remove.
        """
        args = self.convert_args(spec)
        with tempfile.TemporaryFile() as stderr:
            proc = self.start(args, limits, stderr)
            try:
                _follow(proc, on_progress, cancel, stall_timeout)
            except BaseException:
                stop(proc)
                raise
            stderr.seek(0)
            err = stderr.read()[-4000:].decode("utf-8", "replace")
        done = Completed(tuple(self.command(args)), proc.returncode, "", err)
        self.raise_if_limited(done, limits, "convert")
        if done.returncode != 0:
            if "No space left on device" in err:
                raise NotEnoughSpace("The destination filesystem filled up during the conversion.")
            raise failure(done)
        return done

    # -- creating images (a conversion's output with -n, our samples; never user files) -------

    def create(
        self,
        path: str | os.PathLike[str],
        fmt: str,
        size: int,
        options: Sequence[str] = (),
        backing: tuple[str, str] | None = None,
    ) -> None:
        """Create an image. `backing` is (name as written into the image, its format)."""
        args = ["create", "-q", "-f", fmt]
        if backing is not None:
            args += ["-b", backing[0], "-F", backing[1], "-u"]
        if options:
            args += ["-o", ",".join(options)]
        self.checked([*args, absolute(path), str(size)])

    def checked(self, args: Sequence[str]) -> Completed:
        """Run qemu-img; a non-zero exit is QemuImgError."""
        done = self.run(args)
        if done.returncode != 0:
            raise failure(done)
        return done


def _follow(
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
