"""The one place that runs qemu-img: `QemuImg`, a located binary and the commands we run
with it. commands.py builds each argv, process.py runs it under our limits, results.py
reads the answer; every user image is named by an absolute `json:` reference with an
explicit format, `--output=json` where qemu-img has it and `-U` (force share) for
read-only inspection.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import threading
from collections.abc import Callable, Sequence
from functools import cached_property
from subprocess import Popen
from typing import IO, Any

from ..errors import MeasureUnsupported, NotEnoughSpace, QemuImgError, QemuImgNotFound
from . import commands
from .byte_range import ImageSource
from .commands import ConvertSpec
from .image_info import ImageInfo, parse_info_json
from .process import (
    INSPECTION_LIMITS,
    Completed,
    Launcher,
    Limits,
    failure,
    follow_progress,
    raise_if_limited,
    stop,
)
from .results import CheckResult, MapExtent, Measurement, parse_check, parse_map, parse_measurement

logger = logging.getLogger(__name__)

INSTALL_HINT = (
    "install it with `apt-get install qemu-utils` (Debian, Ubuntu), "
    "`dnf install qemu-img` (Fedora, RHEL) or `zypper install qemu-tools` (openSUSE)"
)


class QemuImg:
    """A located qemu-img binary and the commands we run with it."""

    def __init__(self, binary: str | None = None, limits: Limits = INSPECTION_LIMITS) -> None:
        self.binary = self._locate(binary or "qemu-img")
        self.limits = limits
        self._launcher = Launcher()

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
        return self._launcher.start(argv, limits, stderr)

    def run(self, args: Sequence[str], limits: Limits | None = None) -> Completed:
        """Run qemu-img to completion; raise QemuImgLimitExceeded if a limit stopped it."""
        argv = self.command(args)
        logger.info("running %s", shlex.join(argv))
        return self._launcher.run(argv, limits or self.limits, args[0])

    def checked(self, args: Sequence[str]) -> Completed:
        """Run qemu-img; a non-zero exit is QemuImgError."""
        done = self.run(args)
        if done.returncode != 0:
            raise failure(done)
        return done

    def _json(self, args: Sequence[str], limits: Limits | None = None) -> Any:
        done = self.run(args, limits)
        if done.returncode != 0:
            raise failure(done)
        try:
            return json.loads(done.stdout)
        except ValueError:
            raise QemuImgError(f"qemu-img {args[0]} printed something that is not JSON.") from None

    # -- inspection ---------------------------------------------------------------------------

    # The command lines, for callers that show or record them (built in commands.py).
    info_args = staticmethod(commands.info_args)
    check_args = staticmethod(commands.check_args)
    map_args = staticmethod(commands.map_args)
    convert_args = staticmethod(commands.convert_args)

    def info_json(self, path: ImageSource, fmt: str) -> Any:
        """Raw `qemu-img info` JSON of one image (never its backing chain)."""
        return self._json(self.info_args(path, fmt))

    def info(self, path: ImageSource, fmt: str) -> ImageInfo:
        return _parsed_info(self.info_json(path, fmt))

    def probe_info(self, path: ImageSource) -> ImageInfo:
        """`info` with qemu's own format probe. Only for files that passed our safety gate."""
        return _parsed_info(self._json(commands.probe_info_args(path)))

    def check(self, path: ImageSource, fmt: str) -> CheckResult:
        return parse_check(self.run(self.check_args(path, fmt)))

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
        return parse_map(data, max_extents)

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
        try:
            data = self._json(commands.measure_args(path, fmt, target, options, chain))
        except QemuImgError as exc:
            if "does not support size measurement" not in exc.stderr:
                raise
            raise MeasureUnsupported(str(exc), returncode=exc.returncode, stderr=exc.stderr) from None
        return parse_measurement(data)

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
        args = commands.compare_args(first, first_format, second, second_format, first_chain)
        done = self.run(args, limits)
        if done.returncode in (0, 1):
            return done.returncode == 0
        raise failure(done)

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
        import tempfile  # conversions only: inspection's start-up does not pay for it

        args = self.convert_args(spec)
        with tempfile.TemporaryFile() as stderr:
            proc = self.start(args, limits, stderr)
            try:
                follow_progress(proc, on_progress, cancel, stall_timeout)
            except BaseException:
                stop(proc)
                raise
            stderr.seek(0)
            err = stderr.read()[-4000:].decode("utf-8", "replace")
        done = Completed(tuple(self.command(args)), proc.returncode, "", err)
        raise_if_limited(done, limits, "convert")
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
        self.checked(commands.create_args(path, fmt, size, options, backing))


def _parsed_info(data: Any) -> ImageInfo:
    try:
        return parse_info_json(data)
    except ValueError as exc:
        raise QemuImgError(f"qemu-img info output could not be read: {exc}") from None
