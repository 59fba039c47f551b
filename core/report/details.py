"""Everything the window shows about one image, gathered in one call (off the UI thread)."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..appliance.appliance import ApplianceReport, inspect_appliance, is_appliance
from ..chain import ChainLayer, chain_is_sound, walk_backing_chain
from ..errors import DiskscopeError, QemuImgError
from ..fetch.sums import SumsEntry, find_sums
from ..inspect.verdict import ViolationCode
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..qemu.qemu_img import QemuImg
from ..qemu.results import MapExtent
from ..safety import ImageReport, inspect_image

MAX_MAP_EXTENTS = 200_000


@dataclass(frozen=True)
class ImageDetails:
    report: ImageReport
    chain: tuple[ChainLayer, ...]
    extents: tuple[MapExtent, ...]
    map_note: str  # why there is no map, or that it was cut short
    commands: tuple[str, ...]  # the qemu-img command lines that show the same, to copy
    sums: SumsEntry | None = None  # what a SHA256SUMS (or NAME.sha256) beside it says
    sums_problem: str = ""  # why the checksum file beside it was refused (its signature)

    @property
    def path(self) -> Path:
        return self.report.path

    @property
    def not_a_disk_image(self) -> bool:
        """Refused only because the file is plainly no disk image (text, an archive, ...)."""
        codes = {v.code for v in self.report.violations}
        return codes == {ViolationCode.NOT_A_DISK_IMAGE}

    @property
    def owned_chain(self) -> bool:
        """Refused only for a backing file, and the chain lies inside the image's folder with
        every layer passing the gate: the user's own overlay, which a conversion can flatten."""
        codes = {v.code for v in self.report.violations}
        return (
            codes == {ViolationCode.BACKING_FILE} and len(self.chain) > 1 and chain_is_sound(list(self.chain))
        )


def gather_details(
    path: str | os.PathLike[str],
    qemu: QemuImg,
    policy: InspectionPolicy = DEFAULT_POLICY,
    keyring: Path | None = None,
) -> ImageDetails:
    """A compressed image is judged by the image inside (see core/packed/); qemu-img opens
    it only once it is decompressed, so it has no map and no commands to copy."""
    report = inspect_image(path, qemu, policy=policy, unpack=True)
    chain: tuple[ChainLayer, ...] = ()
    if report.packed is None and (
        report.inspection.backing_file or (report.info and report.info.backing_filename)
    ):
        chain = tuple(walk_backing_chain(report.path, qemu, policy, top=report))
    if report.packed is not None:
        extents: tuple[MapExtent, ...] = ()
        note = (
            "No allocation map: the image is compressed; qemu-img reads it once Convert has decompressed it."
        )
        commands: tuple[str, ...] = ()
    else:
        extents, note = _allocation(report, chain, qemu)
        commands = _commands(report, qemu)
    sums, problem = None, ""
    try:
        sums = find_sums(report.path, keyring)  # hashing waits for its own task: see core/fetch/sums.py
    except DiskscopeError as exc:  # a signature gpgv refused, or gpgv that could not run
        problem = str(exc)
    return ImageDetails(report, chain, extents, note, commands, sums, problem)


def gather(
    path: str | os.PathLike[str],
    qemu: QemuImg,
    policy: InspectionPolicy = DEFAULT_POLICY,
    keyring: Path | None = None,
) -> ImageDetails | ApplianceReport:
    """What the window shows for a file: an OVA or OVF appliance's report, else the image's details."""
    if is_appliance(path):
        return inspect_appliance(path, qemu, policy)
    return gather_details(path, qemu, policy, keyring)


def _allocation(
    report: ImageReport, chain: tuple[ChainLayer, ...], qemu: QemuImg
) -> tuple[tuple[MapExtent, ...], str]:
    """qemu-img map follows backing files, so it runs only on a sound chain or a safe image."""
    if not (report.safe or (chain and chain_is_sound(list(chain)))):
        return (), "No allocation map: the image was refused, so qemu-img did not open it."
    size = report.virtual_size or 0
    if size == 0:
        return (), "The disk is empty."
    target = os.path.realpath(report.path)
    try:
        extents = qemu.map(target, report.format.qemu_driver, max_length=size, max_extents=MAX_MAP_EXTENTS)
    except QemuImgError as exc:
        return (), f"No allocation map: {exc}"
    covered = sum(e.length for e in extents)
    note = "" if covered >= size else f"Only the first {covered:,} bytes were mapped."
    return tuple(extents), note


def _commands(report: ImageReport, qemu: QemuImg) -> tuple[str, ...]:
    fmt = report.format.qemu_driver
    path = os.path.realpath(report.path)
    size = report.virtual_size or 0
    return tuple(
        shlex.join(qemu.command(args))
        for args in (
            qemu.info_args(path, fmt),
            qemu.check_args(path, fmt),
            qemu.map_args(path, fmt, max_length=max(size, 1)),
        )
    )
