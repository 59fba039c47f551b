"""Conversion: `ConvertJob` runs a plan (plan.py) with live progress, a Cancel that
cleans up, and verified output renamed into place only at the end.

The window runs the same job in a worker thread: progress comes through a
callback, cancel through a `threading.Event`, and the job ends in exactly one
result or one exception.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import Cancelled, DestinationChanged, SourceChanged, VerificationFailed
from ..formats import ImageFormat
from ..identity import file_identity
from ..inspect.inspector import inspect_file
from ..placement import PrivateFolder, free_space, place_file
from ..progress import ProgressCallback, ProgressMeter
from ..qemu.byte_range import FileRange, source_path
from ..qemu.process import CONVERSION_LIMITS, Limits
from ..qemu.qemu_img import QemuImg
from .plan import MAX_EXTENTS, ConvertPlan, part_name, plan_conversion, whole_map
from .request import ConvertRequest
from .verification import (
    ALLOCATION_MAPPED,
    SAMPLE_BYTES,
    Verification,
    allocation_problem,
    compare_samples,
)

_CANCELLED = "The conversion was cancelled; its partial output was removed."


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    format: str
    subformat: str | None
    virtual_size: int
    disk_usage: int  # bytes allocated on disk
    duration: float
    command: str
    checks: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "output": str(self.output),
            "format": self.format,
            "subformat": self.subformat,
            "virtual_size": self.virtual_size,
            "disk_usage": self.disk_usage,
            "duration": round(self.duration, 3),
            "command": self.command,
            "checks": list(self.checks),
        }


class ConvertJob:
    """One conversion, run once with `run()`."""

    def __init__(
        self,
        request: ConvertRequest,
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        free_space: Callable[[Path], int] = free_space,
        limits: Limits = CONVERSION_LIMITS,
        plan: ConvertPlan | None = None,
    ) -> None:
        """`plan`: one made already (the dialog shows it) for this very request; the job
        then uses it as it is, and only re-checks that the source is still the file that
        was inspected. Without one, `run()` plans first."""
        if plan is not None and plan.request != request:
            raise ValueError("The plan was made for another request.")
        self.request = request
        self.qemu = qemu
        self.limits = limits
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space
        self._planned = plan
        self.plan: ConvertPlan | None = None

    def run(self) -> ConvertResult:
        started = time.monotonic()
        plan = self._planned
        if plan is None:
            plan = plan_conversion(self.request, self.qemu, self.free_space)
        else:
            self._check_source(plan)
        destination = plan.destination
        private = PrivateFolder(destination.parent)
        try:
            name = part_name(destination)
            # What the user sees names the folder; what runs reaches it through our descriptor.
            self.plan = replace(plan, spec=replace(plan.spec, target=str(private.shown / name)))
            plan = replace(plan, spec=replace(plan.spec, target=private.path(name)))
            checks = self._produce(plan, private)
            place_file(name, destination, plan.request.overwrite, finished_dir_fd=private.fd,
                       destination_dir_fd=private.parent_fd)  # fmt: skip
        finally:
            private.remove()
        return ConvertResult(
            output=destination,
            format=plan.request.target,
            subformat=plan.request.subformat,
            virtual_size=plan.virtual_size,
            disk_usage=os.stat(destination).st_blocks * 512,
            duration=time.monotonic() - started,
            command=self.command_line(),
            checks=checks,
        )

    def _produce(self, plan: ConvertPlan, private: PrivateFolder) -> tuple[str, ...]:
        """Write and verify the partial file. The file qemu-img reads must be the one that
        was inspected, from before it starts until after the output was checked."""
        if plan.spec.no_create:
            self.qemu.create(plan.spec.target, plan.request.target, plan.virtual_size, plan.spec.options)
        self._check_source(plan)
        self._convert(plan)
        self._check_source(plan)
        self._check_folder(private)
        checks = self._verify(plan)
        self._check_source(plan)
        self._check_folder(private)
        return checks

    @staticmethod
    def _check_folder(private: PrivateFolder) -> None:
        if not private.intact():
            raise DestinationChanged(
                f"The folder {private.folder} was removed or replaced during the conversion."
            )

    @staticmethod
    def _check_source(plan: ConvertPlan) -> None:
        paths = (source_path(plan.spec.source), *(path for path, _ in plan.spec.source_chain))
        now = tuple(file_identity(path) for path in paths)
        if now != plan.source_identity:
            raise SourceChanged("The source file changed after it was inspected; convert it again.")

    def command_line(self) -> str:
        """The qemu-img command, shell-quoted, for the user to copy."""
        assert self.plan is not None
        return shlex.join(self.qemu.command(self.qemu.convert_args(self.plan.spec)))

    def _convert(self, plan: ConvertPlan) -> None:
        total = plan.data_bytes or plan.virtual_size
        meter = ProgressMeter("converting", total, self.on_progress)
        meter.update(0, force=True)

        def advanced(percent: float) -> None:
            meter.update(int(total * percent / 100))

        try:
            self.qemu.convert(plan.spec, self.limits, advanced, self.cancel, self.request.stall_timeout)
        except Cancelled:
            raise Cancelled(_CANCELLED) from None
        meter.update(total, force=True)

    def _verify(self, plan: ConvertPlan) -> tuple[str, ...]:
        meter = ProgressMeter("verifying output", None, self.on_progress)
        meter.update(0, force=True)
        part, target = Path(plan.spec.target), plan.request.target
        ours = inspect_file(part, ImageFormat(target) if target != "raw" else None)
        if not ours.safe or ours.format.qemu_driver != target:
            why = ours.violations[0].message if ours.violations else f"it reads as {ours.format}"
            raise VerificationFailed(f"The output failed our inspection: {why}")
        info = self.qemu.info(part, target)
        if info.format != target or info.virtual_size != plan.virtual_size:
            raise VerificationFailed(
                f"The output is {info.format} of {info.virtual_size:,} bytes, "
                f"expected {target} of {plan.virtual_size:,} bytes."
            )
        checks = [
            f"our inspector: {ours.format.value}, safe",
            f"qemu-img info: {info.format}, {info.virtual_size:,} bytes",
            *self._compare_maps(plan, part, info.cluster_size),
        ]
        if plan.request.verify == Verification.FULL:
            if self.cancel.is_set():
                raise Cancelled(_CANCELLED)
            spec = plan.spec
            same = self.qemu.compare(spec.source, spec.source_format, part, target, self.limits,
                                     first_chain=spec.source_chain)  # fmt: skip
            if not same:
                raise VerificationFailed("qemu-img compare found the output differs from the source.")
            checks.append("qemu-img compare: identical to the source")
        return tuple(checks)

    def _compare_maps(self, plan: ConvertPlan, part: Path, cluster_size: int | None) -> list[str]:
        """The output's allocation map against the source's, range by range, and sampled
        blocks of the source's data byte for byte (verification.py says why that is enough
        by default)."""
        request, source_map = plan.request, plan.source_map
        output_map = None
        if source_map is not None:
            output_map = whole_map(self.qemu, str(part), request.target, plan.virtual_size)
        if source_map is None or output_map is None:
            why = f"over {MAX_EXTENTS:,} ranges, or qemu-img could not map it"
            return [f"allocation map: not compared ({why})"]
        unmapped = None  # why the maps are not compared range by range
        if request.preallocation not in (None, "off") or request.subformat == "fixed":
            unmapped = "a preallocated output holds data everywhere"
        elif request.target not in ALLOCATION_MAPPED:
            unmapped = f"qemu-img maps no {request.target} allocation"
        granularity = max(cluster_size or 0, plan.source.facts.cluster_size or 0)
        problem = None
        if unmapped is None:
            problem = allocation_problem(source_map, output_map, plan.virtual_size, granularity)
        sampled, differs = 0, None
        if not isinstance(plan.spec.source, FileRange):  # a disk in an OVA: map offsets are the member's
            try:
                sampled, differs = compare_samples(plan.spec.source, source_map, str(part), output_map)
            except OSError as exc:
                raise VerificationFailed(f"The output could not be read back: {exc.strerror}.") from None
        if problem or differs:
            raise VerificationFailed(f"The output is not the source converted: {problem or differs}")
        ranges = sum(1 for e in output_map if e.data)
        counted = f"{ranges:,} data range{'' if ranges == 1 else 's'}"
        return [
            f"allocation map: data only where the source has data ({counted})"
            if unmapped is None
            else f"allocation map: covers the whole disk (not compared range by range: {unmapped})",
            f"sampled data: {sampled} blocks of up to {SAMPLE_BYTES // 1024} KiB identical to the source"
            if sampled
            else "sampled data: none compared (no block of data is stored plainly in both files)",
        ]
