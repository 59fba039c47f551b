"""An OVA or OVF appliance, inspected as a whole: the descriptor, the manifest, the
certificate, and each disk through the same gate as a bare image.

An OVA's disks are judged where they lie in the tar: our inspector reads the member's
headers at its offset, and qemu-img opens only the member's byte range (core/qemu/
byte_range.py); nothing is extracted. A loose OVF's disks are files beside it, and may
not lead out of its folder. Everything about the appliance itself (its tar members, its
XML, its manifest) is checked before any disk reaches qemu-img.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import ApplianceProblem, UnsafeAppliance
from ..formats import ImageFormat
from ..inspect.inspector import check_regular_file
from ..inspect.verdict import Violation, ViolationCode
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..qemu.byte_range import SECTOR, FileRange
from ..qemu.qemu_img import QemuImg
from ..safety import ImageReport, inspect_image, inspect_member
from ..text import printable
from .cert import CertificateCheck, check_certificate
from .manifest import ManifestCheck, verify_manifest
from .ovf import MAX_DESCRIPTOR, Descriptor, DiskSpec, VirtualSystem, parse_descriptor
from .tar import Piece, file_state, list_members

_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+-]+")


@dataclass(frozen=True)
class ApplianceDisk:
    index: int  # 1-based, in descriptor order: what `convert --disk N` takes
    disk_id: str
    name: str  # a safe file name stem for its conversion, from the OVF's file name
    href: str | None  # None: a disk that starts out empty and has no file
    capacity: int | None
    format_uri: str | None
    controller: str | None
    source: FileRange | Path | None  # an OVA member's bytes, or a loose OVF's file
    report: ImageReport | None
    identity: tuple[int, int, int] | None = None  # of the file holding it, when it was judged

    @property
    def safe(self) -> bool:
        return self.report is None or self.report.safe

    @property
    def virtual_size(self) -> int | None:
        """The disk's own, or for a disk with no file the capacity the OVF gives it."""
        return self.report.virtual_size if self.report is not None else self.capacity

    def to_json(self) -> dict[str, Any]:
        where = self.source
        return {
            "index": self.index,
            "id": self.disk_id,
            "name": self.name,
            "file": self.href,
            "capacity": self.capacity,
            "format": self.format_uri,
            "controller": self.controller,
            "offset": where.offset if isinstance(where, FileRange) else None,
            "size": where.size if isinstance(where, FileRange) else None,
            "safe": self.safe,
            "image": self.report.to_json() if self.report else None,
        }


@dataclass(frozen=True)
class ApplianceReport:
    path: Path
    kind: str  # "ova" or "ovf"
    descriptor: str
    systems: tuple[VirtualSystem, ...]
    disks: tuple[ApplianceDisk, ...]
    manifest: ManifestCheck | None
    certificate: CertificateCheck | None

    @property
    def safe(self) -> bool:
        return all(d.safe for d in self.disks)

    def moved(self, to: Path) -> ApplianceReport:
        """The report of the same OVA under its new name (a download placed once judged)."""

        def disk(d: ApplianceDisk) -> ApplianceDisk:
            if not isinstance(d.source, FileRange) or d.report is None:
                return d
            return replace(d, source=replace(d.source, path=str(to)), report=replace(d.report, path=to))

        return replace(self, path=to, disks=tuple(disk(d) for d in self.disks))

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "appliance": self.kind,
            "descriptor": self.descriptor,
            "systems": [s.to_json() for s in self.systems],
            "disks": [d.to_json() for d in self.disks],
            "manifest": self.manifest.to_json() if self.manifest else None,
            "certificate": self.certificate.to_json() if self.certificate else None,
            "safe": self.safe,
        }


@dataclass(frozen=True)
class _Bundle:
    """An appliance's files by name, wherever they are stored."""

    kind: str
    descriptor: Piece
    files: dict[str, Piece]  # the descriptor and every other file but the manifest and certificate
    manifest: Piece | None
    certificate: Piece | None


def is_appliance(path: str | os.PathLike[str]) -> bool:
    """A file named `.ova` or `.ovf` (one that is not what it says is refused as such), or a
    tar whose first member is an `.ovf`, as OVF requires: what `info`, `convert`, `fetch` and
    the window treat as an appliance."""
    p = Path(path)
    if p.suffix.lower() in (".ova", ".ovf"):
        return True
    try:
        # O_NONBLOCK and a regular file only: a FIFO or a device must not hang or feed us.
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        head = os.pread(fd, 512, 0) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        return False
    finally:
        os.close(fd)
    if head[257:262] != b"ustar":
        return False
    first = head[:100].split(b"\0", 1)[0].decode("utf-8", "replace")
    return first.lower().endswith(".ovf")


def inspect_appliance(
    path: str | os.PathLike[str], qemu: QemuImg, policy: InspectionPolicy = DEFAULT_POLICY
) -> ApplianceReport:
    """The appliance's report; UnsafeAppliance when the appliance itself is hostile or broken
    (one sentence), else every disk with its own verdict."""
    given = check_regular_file(path)
    bundle = _ova(given) if given.suffix.lower() != ".ovf" else _loose_ovf(given)
    descriptor = parse_descriptor(bundle.descriptor.read(MAX_DESCRIPTOR), bundle.descriptor.name)
    if bundle.kind == "ovf":
        bundle = _with_referenced_files(given, bundle, descriptor)
    _check_files(given, bundle, descriptor)
    manifest = verify_manifest(bundle.manifest, bundle.files) if bundle.manifest else None
    certificate = None
    if bundle.certificate is not None:
        certificate = check_certificate(bundle.certificate, bundle.manifest)
    names = _output_names(descriptor)
    disks = tuple(
        _disk(i, spec, names[spec.disk_id], bundle, descriptor, qemu, policy)
        for i, spec in enumerate(descriptor.disks, 1)
    )
    return ApplianceReport(
        given, bundle.kind, bundle.descriptor.name, descriptor.systems, disks, manifest, certificate
    )


def _ova(archive: Path) -> _Bundle:
    members = list_members(archive)
    by_suffix: dict[str, list[Piece]] = {}
    for piece in members:
        by_suffix.setdefault(PurePosixPath(piece.name).suffix.lower(), []).append(piece)
    descriptors = by_suffix.get(".ovf", [])
    if len(descriptors) != 1:
        problem = ApplianceProblem.NOT_AN_APPLIANCE if not descriptors else ApplianceProblem.DESCRIPTOR
        raise UnsafeAppliance(
            f"{archive} holds {len(descriptors) or 'no'} .ovf descriptors; an OVA holds exactly one.",
            problem,
        )
    for suffix in (".mf", ".cert"):
        if len(by_suffix.get(suffix, [])) > 1:
            raise UnsafeAppliance(
                f"{archive} holds more than one {suffix} file.", ApplianceProblem.DUPLICATE_MEMBER
            )
    files = {p.name: p for p in members if PurePosixPath(p.name).suffix.lower() not in (".mf", ".cert")}
    manifest, certificate = (by_suffix.get(s, [None])[0] for s in (".mf", ".cert"))
    return _Bundle("ova", descriptors[0], files, manifest, certificate)


def _loose_ovf(descriptor: Path) -> _Bundle:
    def beside(suffix: str) -> Piece | None:
        path = descriptor.with_suffix(suffix)
        return _loose_piece(path.name, path) if path.exists() else None

    own = _loose_piece(descriptor.name, descriptor)
    return _Bundle("ovf", own, {own.name: own}, beside(".mf"), beside(".cert"))


def _loose_piece(name: str, path: Path) -> Piece:
    real = os.path.realpath(check_regular_file(path))
    identity, size = file_state(real)
    return Piece(name, real, 0, size, identity)


def _with_referenced_files(descriptor: Path, bundle: _Bundle, parsed: Descriptor) -> _Bundle:
    """A loose OVF's files: beside it, and (after any symbolic link) still inside its folder."""
    folder = os.path.realpath(descriptor.parent)
    files = dict(bundle.files)
    for ref in parsed.files:
        path = descriptor.parent / ref.href
        if not path.exists():
            continue  # _check_files names it
        if os.path.commonpath([folder, os.path.realpath(path)]) != folder:
            raise UnsafeAppliance(
                f"The descriptor {printable(descriptor.name)} was refused: its file {printable(ref.href)!r} "
                "leads outside its folder.",
                ApplianceProblem.BAD_HREF,
            )
        files[ref.href] = _loose_piece(ref.href, path)
    return replace(bundle, files=files)


def _check_files(where: Path, bundle: _Bundle, parsed: Descriptor) -> None:
    for ref in parsed.files:
        piece = bundle.files.get(ref.href)
        if piece is None:
            raise UnsafeAppliance(
                f"{where} names the file {printable(ref.href)!r}, which the appliance does not hold.",
                ApplianceProblem.MISSING_FILE,
            )
        if ref.size is not None and ref.size != piece.size:
            raise UnsafeAppliance(
                f"{where} was refused: its descriptor gives {printable(ref.href)!r} {ref.size:,} bytes, "
                f"but the file has {piece.size:,}.",
                ApplianceProblem.SIZE_MISMATCH,
            )


def _output_names(parsed: Descriptor) -> dict[str, str]:
    """A distinct, plain file name stem for each disk, from its file's name (disk1.vmdk: disk1)."""
    names: dict[str, str] = {}
    for i, disk in enumerate(parsed.disks, 1):
        ref = parsed.file(disk.file_id) if disk.file_id else None
        base = PurePosixPath(ref.href).stem if ref else disk.disk_id
        stem = _UNSAFE_CHARS.sub("_", base).lstrip(".-") or f"disk{i}"
        name, n = stem, 1
        while name in names.values():
            n += 1
            name = f"{stem}-{n}"
        names[disk.disk_id] = name
    return names


def _disk(
    index: int,
    spec: DiskSpec,
    name: str,
    bundle: _Bundle,
    parsed: Descriptor,
    qemu: QemuImg,
    policy: InspectionPolicy,
) -> ApplianceDisk:
    ref = parsed.file(spec.file_id) if spec.file_id else None
    controller = parsed.controller_of(spec.disk_id)
    if spec.file_id and ref is None:
        raise UnsafeAppliance(
            f"The disk {printable(spec.disk_id)!r} of {printable(bundle.descriptor.name)} names no file "
            "of the appliance.",
            ApplianceProblem.DESCRIPTOR,
        )
    if ref is None:
        return ApplianceDisk(
            index, spec.disk_id, name, None, spec.capacity, spec.format_uri, controller, None, None
        )
    expected = spec.expected_format
    if expected is None:
        raise UnsafeAppliance(
            f"The disk {printable(spec.disk_id)!r} has the format {printable(spec.format_uri or 'none')!r}, "
            "which Diskscope does not know.",
            ApplianceProblem.UNSUPPORTED,
        )
    fmt, create_type = expected
    piece = bundle.files[ref.href]
    source: FileRange | Path
    if bundle.kind == "ova":
        source = _sectors(piece)
        report = inspect_member(source, qemu, fmt, policy)
    else:
        source = Path(piece.path)
        report = inspect_image(source, qemu, fmt, policy)
    report = _check_create_type(report, fmt, create_type)
    return ApplianceDisk(index, spec.disk_id, name, ref.href, spec.capacity, spec.format_uri, controller,
                         source, report, piece.identity)  # fmt: skip


def _sectors(piece: Piece) -> FileRange:
    """The member's bytes as qemu-img can take them: to the end of its last 512-byte block,
    which tar pads with zeros (qemu's raw driver takes whole sectors only). Our inspector
    judges this same range, so both read exactly the same bytes."""
    size = -(-piece.size // SECTOR) * SECTOR
    if piece.offset + size > os.stat(piece.path).st_size:
        raise UnsafeAppliance(
            f"The disk {printable(piece.name)!r} is cut short: the archive ends inside it.",
            ApplianceProblem.TRUNCATED,
        )
    return FileRange(piece.path, piece.offset, size)


def _check_create_type(report: ImageReport, fmt: ImageFormat, create_type: str | None) -> ImageReport:
    """ovf:format's `#streamOptimized` promises a create type too; the disk must keep it."""
    found = report.inspection.subformat
    if create_type is None or report.format != fmt or found == create_type:
        return report
    problem = Violation(
        ViolationCode.FORMAT_MISMATCH,
        f"The descriptor says this disk is a {create_type} VMDK, but it is {found or 'another kind'}.",
    )
    return replace(report, violations=(*report.violations, problem))
