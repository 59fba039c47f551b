"""Converting an appliance's disks: each straight from its bytes inside the OVA (or its file
beside the OVF), one output per disk, with every safety of a plain conversion (private
folder, verification, nothing partial left behind).

Every disk is planned before the first is converted: a refused disk, an output name that
is taken or too little space for all of them stops the job before anything is written.
A failure later keeps the disks already converted and verified, and says so.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..convert.job import ConvertJob, ConvertResult
from ..convert.plan import ConvertPlan, plan_conversion
from ..convert.request import ConvertRequest
from ..errors import DiskscopeError, NotEnoughSpace, UnsafeImage
from ..placement import free_space
from ..progress import ProgressCallback
from ..qemu.byte_range import FileRange
from ..qemu.qemu_img import QemuImg
from ..sizes import human_size
from ..text import printable
from .appliance import ApplianceDisk, ApplianceReport

EXTENSIONS = {
    "raw": ".raw",
    "qcow2": ".qcow2",
    "vmdk": ".vmdk",
    "vpc": ".vhd",
    "vhdx": ".vhdx",
    "vdi": ".vdi",
}


@dataclass(frozen=True)
class DiskPlan:
    disk: ApplianceDisk
    plan: ConvertPlan


def disk_request(disk: ApplianceDisk, request: ConvertRequest) -> ConvertRequest:
    """`request` (whose destination is the output file) aimed at one disk of the appliance."""
    if disk.source is None or disk.report is None:
        raise DiskscopeError(f"Disk {disk.index} of the appliance has no file: it starts out empty.")
    if not disk.report.safe:
        raise UnsafeImage.refused(f"Disk {disk.index} ({printable(disk.href or '')})", disk.report.violations)
    request = replace(request, declared=disk.report.format, expected_source=disk.identity)
    if isinstance(disk.source, FileRange):
        return replace(request, member=disk.source)
    return replace(request, source=disk.source)


def output_path(disk: ApplianceDisk, destination: Path, target: str, single: bool) -> Path:
    """Where a disk's conversion goes: DEST itself for one disk unless DEST is a folder, else
    DEST/NAME.EXT, the name from the OVF."""
    if single and not destination.is_dir():
        return destination
    if not destination.is_dir():
        raise DiskscopeError(
            f"{destination} is not a folder; an appliance's disks are converted into a folder, one "
            "file each (or name one disk with --disk N and a file name)."
        )
    return destination / (disk.name + EXTENSIONS.get(target, f".{target}"))


def chosen_disks(report: ApplianceReport, index: int | None) -> tuple[ApplianceDisk, ...]:
    with_files = tuple(d for d in report.disks if d.source is not None)
    if index is None:
        if not with_files:
            raise DiskscopeError(f"{report.path} has no disk with content to convert.")
        return with_files
    for disk in report.disks:
        if disk.index == index:
            return (disk,)
    raise DiskscopeError(f"{report.path} has no disk {index}; it has {len(report.disks)}.")


def plan_appliance(
    report: ApplianceReport,
    request: ConvertRequest,
    qemu: QemuImg,
    index: int | None = None,
    free_space: Callable[[Path], int] = free_space,
) -> tuple[DiskPlan, ...]:
    """One plan per chosen disk; `request.destination` is the folder (or, for one disk, the file)."""
    disks = chosen_disks(report, index)
    destination = Path(os.path.abspath(request.destination))
    plans = []
    for disk in disks:
        output = output_path(disk, destination, request.target, len(disks) == 1)
        plans.append(DiskPlan(disk, plan_conversion(replace(disk_request(disk, request), destination=output),
                                                    qemu, free_space)))  # fmt: skip
    outputs = [p.plan.destination for p in plans]
    if len(set(outputs)) != len(outputs):
        raise DiskscopeError(
            "Two disks would be converted to the same file; convert them one by one with --disk."
        )
    required = sum(p.plan.required for p in plans)
    free = free_space(destination if destination.is_dir() else destination.parent)
    if required > free:
        raise NotEnoughSpace(
            f"The appliance's disks need {human_size(required)} ({required:,} bytes) but only "
            f"{human_size(free)} ({free:,} bytes) is free."
        )
    return tuple(plans)


class ApplianceConvertJob:
    """Every chosen disk of an appliance, converted one after the other by a ConvertJob."""

    def __init__(
        self,
        plans: tuple[DiskPlan, ...],
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.plans = plans
        self.qemu = qemu
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()

    def run(self) -> tuple[ConvertResult, ...]:
        done: list[ConvertResult] = []
        for item in self.plans:
            job = ConvertJob(item.plan.request, self.qemu, self.on_progress, self.cancel, plan=item.plan)
            try:
                done.append(job.run())
            except DiskscopeError as exc:
                if done:
                    kept = ", ".join(printable(str(r.output)) for r in done)
                    exc.args = (f"{exc} (Disk {item.disk.index} failed; {kept} were converted and kept.)",)
                raise
        return tuple(done)
