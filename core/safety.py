"""The safety gate: our inspector first, then qemu-img's own view as a second opinion.

qemu-img never opens a file that our inspector refused, and it is always told the
format our inspector found (`-f`). Only after that has passed do we let qemu probe the
format itself, to learn whether it would read the file differently. Last come the
rules of the user's policy (core/policy.py), which can only refuse more.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .errors import QemuImgError, UnsafeImage
from .formats import ImageFormat
from .inspect.inspector import InspectionResult, inspect_file, inspect_range
from .inspect.verdict import Violation, ViolationCode
from .inspect.vmdk import SINGLE_FILE_TYPES
from .packed.probe import PackedFacts, probe_packed
from .policy import DEFAULT_POLICY, InspectionPolicy
from .qemu.byte_range import FileRange
from .qemu.commands import file_node
from .qemu.image_info import ImageInfo
from .qemu.qemu_img import QemuImg

# Formats whose virtual size our inspector reads exactly as qemu does.
_SIZE_COMPARABLE = {ImageFormat.QCOW2, ImageFormat.VMDK, ImageFormat.VDI, ImageFormat.VHDX}


@dataclass(frozen=True)
class ImageFacts:
    """An image's facts as a reader wants them: qemu-img's where it opened the file, else
    what our own inspector read from the header (a refused file is never opened)."""

    virtual_size: int | None
    actual_size: int | None  # qemu-img's allocation; None when it did not open the file
    size_on_disk: int | None  # qemu-img's allocation where it knows it, else the file's size
    cluster_size: int | None
    encrypted: bool
    dirty: bool
    backing_file: str | None
    data_file: str | None
    format_specific: dict[str, Any]


@dataclass(frozen=True)
class ImageReport:
    """Everything we know about one image file, and whether it is safe."""

    path: Path
    inspection: InspectionResult
    info: ImageInfo | None  # qemu-img's view; None when our inspector refused the file
    violations: tuple[Violation, ...]
    resolved: Path | None = None  # where a symbolic link leads, when the path is one
    # How the image is compressed; then `inspection` is the image inside, judged by its
    # headers alone, and qemu-img has not opened it (`info` is None).
    packed: PackedFacts | None = None

    @property
    def safe(self) -> bool:
        return not self.violations

    @property
    def format(self) -> ImageFormat:
        return self.inspection.format

    @property
    def warnings(self) -> tuple[Violation, ...]:
        """What a careful admin should know that does not make the image unsafe."""
        return self.inspection.warnings

    @property
    def virtual_size(self) -> int | None:
        return self.facts.virtual_size

    @property
    def facts(self) -> ImageFacts:
        """The one place that says whose reading of a fact counts."""
        info, ours = self.info, self.inspection
        if info is None:
            return ImageFacts(
                virtual_size=ours.virtual_size,
                actual_size=None,
                size_on_disk=ours.file_size,
                cluster_size=ours.cluster_size,
                encrypted=ours.encrypted,
                dirty=bool(ours.details.get("dirty", False)),
                backing_file=ours.backing_file,
                data_file=ours.data_file,
                format_specific=dict(ours.details),
            )
        return ImageFacts(
            virtual_size=info.virtual_size,
            actual_size=info.actual_size,
            size_on_disk=info.actual_size if info.actual_size is not None else ours.file_size,
            cluster_size=info.cluster_size,
            encrypted=info.encrypted,
            dirty=info.dirty,
            backing_file=info.backing_filename,
            data_file=info.data_file,
            format_specific=dict(info.format_specific),
        )

    def to_json(self) -> dict[str, Any]:
        info, ours, facts = self.info, self.inspection, self.facts
        return {
            "path": str(self.path),
            "resolved_path": str(self.resolved) if self.resolved else None,
            "format": ours.format.value,
            "subformat": ours.subformat,
            "virtual_size": facts.virtual_size,
            "actual_size": facts.actual_size,
            "file_size": ours.file_size,
            "cluster_size": facts.cluster_size,
            "encrypted": facts.encrypted,
            "dirty": facts.dirty,
            "backing_file": facts.backing_file,
            "data_file": facts.data_file,
            "snapshots": [
                {
                    "id": s.id,
                    "name": s.name,
                    "vm_state_size": s.vm_state_size,
                    "date": s.date.isoformat(),
                    "vm_clock": s.vm_clock,
                }
                for s in (info.snapshots if info else ())
            ],
            "format_specific": facts.format_specific,
            "safe": self.safe,
            "violations": [v.to_json() for v in self.violations],
            "warnings": [w.to_json() for w in self.warnings],
            "compressed": self.packed.to_json() if self.packed else None,
        }


def require_safe(report: ImageReport, subject: str | None = None) -> ImageReport:
    """The refusal gate: the report itself when the image is safe, else UnsafeImage naming
    the first reason. `subject` names the image in the sentence (its path by default)."""
    if not report.safe:
        raise UnsafeImage.refused(subject or str(report.path), report.violations)
    return report


def inspect_image(
    path: str | os.PathLike[str],
    qemu: QemuImg,
    declared: ImageFormat | None = None,
    policy: InspectionPolicy = DEFAULT_POLICY,
    *,
    unpack: bool = False,
) -> ImageReport:
    """Inspect a local image: our verdict, then, if it is safe, qemu-img's second opinion;
    then the rules of the user's policy. With `unpack`, a compressed file is judged by the
    image inside it (`info` and the window show it; everything else refuses it)."""
    given = Path(os.path.abspath(path))
    target = os.path.realpath(given)
    resolved = Path(target) if target != str(given) else None
    if unpack and (probed := probe_packed(given, declared)) is not None:
        facts, inner = probed
        inside = (*inner.violations, *policy.violations(inner.format, (inner.subformat,), inner.virtual_size))
        return ImageReport(given, inner, None, inside, resolved, facts)
    ours = inspect_file(path, declared)
    info, problems = _judge(target, ours, qemu, policy)
    return ImageReport(given, ours, info, problems, resolved)


def _judge(
    target: str | FileRange, ours: InspectionResult, qemu: QemuImg, policy: InspectionPolicy
) -> tuple[ImageInfo | None, tuple[Violation, ...]]:
    """After our inspector: qemu-img's second opinion if we passed it, then the policy."""
    info, problems = None, list(ours.violations)
    if ours.safe:
        info, problems = second_opinion(target, ours, qemu)
    create_types = (ours.subformat, info.vmdk.create_type if info and info.vmdk else None)
    size = info.virtual_size if info else ours.virtual_size
    problems += policy.violations(ours.format, create_types, size)
    return info, tuple(problems)


def inspect_member(
    source: FileRange,
    qemu: QemuImg,
    declared: ImageFormat | None,
    policy: InspectionPolicy = DEFAULT_POLICY,
) -> ImageReport:
    """Inspect a disk that is a byte range of a file (an OVA's tar member) in place: the same
    gate as `inspect_image`, our inspector on the range, then qemu-img on the range alone.
    The report's path is the containing file."""
    ours = inspect_range(source.path, source.offset, source.size, declared)
    info, problems = _judge(source, ours, qemu, policy)
    if info is not None:  # qemu-img measures the whole container; the disk is the range
        info = replace(info, actual_size=source.size)
    return ImageReport(Path(source.path), ours, info, problems)


def second_opinion(
    target: str | FileRange, ours: InspectionResult, qemu: QemuImg
) -> tuple[ImageInfo | None, list[Violation]]:
    """qemu-img's view of a file our inspector passed, and any way it disagrees.

    One qemu-img call. For a raw-family file, qemu's own probe (`info` without -f):
    where it agrees, its answer is exactly `info -f raw`, and where it does not, qemu
    knows a format in the file that we called raw. For any other format, `info -f
    FORMAT`: we matched that format's magic and found no second one, and qemu's probe
    scores the same magic, so probing too would only repeat the call.
    """
    try:
        if ours.format.is_raw_family:
            info = qemu.probe_info(target)
            probed = info.format
        else:
            info = qemu.info(target, ours.format.qemu_driver)
            probed = info.format
    except QemuImgError as exc:
        return None, [Violation(ViolationCode.QEMU_FAILED, str(exc))]
    return info, disagreements(target, ours, info, probed)


def disagreements(
    target: str | FileRange, ours: InspectionResult, info: ImageInfo, probed: str
) -> list[Violation]:
    problems = []
    driver = ours.format.qemu_driver
    fixed_vhd = ours.format == ImageFormat.VPC and ours.subformat == "fixed"
    if info.format != driver or (probed != driver and not (fixed_vhd and probed == "raw")):
        problems.append(
            Violation(
                ViolationCode.QEMU_DISAGREES,
                f"qemu-img reads this file as {probed}, not as {driver}.",
            )
        )
    if (
        ours.format in _SIZE_COMPARABLE
        and ours.virtual_size is not None
        and ours.virtual_size != info.virtual_size
    ):
        problems.append(
            Violation(
                ViolationCode.QEMU_DISAGREES,
                f"qemu-img finds a virtual size of {info.virtual_size} bytes, "
                f"the header says {ours.virtual_size}.",
            )
        )
    if info.backing_filename:
        problems.append(
            Violation(
                ViolationCode.BACKING_FILE,
                f"qemu-img reports a backing file ({info.backing_filename!r}).",
            )
        )
    if info.data_file:
        problems.append(
            Violation(
                ViolationCode.DATA_FILE,
                f"qemu-img reports an external data file ({info.data_file!r}).",
            )
        )
    if info.qcow2 and info.qcow2.corrupt:
        problems.append(Violation(ViolationCode.CORRUPT, "qemu-img reports the image as corrupt."))
    if info.vmdk:
        if info.vmdk.create_type not in SINGLE_FILE_TYPES:
            problems.append(
                Violation(
                    ViolationCode.VMDK_CREATE_TYPE,
                    f"qemu-img reports the VMDK create type {info.vmdk.create_type!r}.",
                )
            )
        for extent in info.vmdk.extents:
            if not _is_itself(extent.filename, target):
                problems.append(
                    Violation(
                        ViolationCode.VMDK_EXTENT,
                        f"qemu-img reports an extent in another file ({extent.filename!r}).",
                    )
                )
    return problems


def _is_itself(extent: str, target: str | FileRange) -> bool:
    """Whether a VMDK extent qemu-img reports is the image's own bytes: the file itself, or
    for a range, qemu's `json:` name of exactly the node we gave it."""
    if not isinstance(target, FileRange):
        return os.path.realpath(extent) == target
    if not extent.startswith("json:"):
        return False
    try:
        return bool(json.loads(extent[5:]) == file_node(target))
    except ValueError:
        return False
