"""Planning a conversion: every check that can be made before qemu-img writes a byte
(the gate on the source and its owned backing chain, the destination, the space the
output needs), and the `ConvertSpec` it will run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from ..chain import ChainLayer, LayerStatus, chain_is_sound, walk_backing_chain
from ..errors import (
    DiskscopeError,
    MeasureUnsupported,
    NotEnoughSpace,
    QemuImgError,
    SourceChanged,
    UnsafeImage,
)
from ..identity import FileIdentity, settled_identity
from ..inspect.inspector import check_regular_file
from ..inspect.verdict import ViolationCode
from ..placement import check_destination, free_space
from ..qemu.byte_range import FileRange
from ..qemu.commands import ConvertSpec
from ..qemu.qemu_img import QemuImg
from ..qemu.results import MapExtent
from ..safety import ImageReport, inspect_image, inspect_member, require_safe
from ..sizes import human_size
from .request import ConvertRequest, build_options


@dataclass(frozen=True)
class ConvertPlan:
    """What a conversion will do, known before it starts (the dialog shows it)."""

    request: ConvertRequest
    source: ImageReport
    spec: ConvertSpec
    required: int  # bytes the output needs
    free: int  # bytes free where it goes
    data_bytes: int | None  # allocated guest data, when known
    virtual_size: int  # of the output
    source_identity: tuple[FileIdentity, ...]  # the source and its backing layers, before inspection
    source_map: tuple[MapExtent, ...] | None = None  # the whole disk's; None when too fragmented

    @property
    def fits(self) -> bool:
        return self.required <= self.free

    @property
    def destination(self) -> Path:
        return Path(os.path.abspath(self.request.destination))


def supports_direct_io(folder: Path) -> bool:
    """Whether files in `folder` can be opened with O_DIRECT (tmpfs cannot). The probe is an
    unnamed O_TMPFILE, so that it never creates or unlinks a name in a shared folder."""
    if not hasattr(os, "O_TMPFILE") or not hasattr(os, "O_DIRECT"):
        return False
    try:
        os.close(os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_DIRECT, 0o600))
    except OSError:
        return False
    return True


def plan_conversion(
    request: ConvertRequest,
    qemu: QemuImg,
    free_space: Callable[[Path], int] = free_space,
    inspected: ImageReport | None = None,
) -> ConvertPlan:
    """Every check that can be made before qemu-img writes a byte.

    `inspected`: the caller's report of the source (fetch-to-raw's, of the download it just
    verified), used instead of inspecting it again. Only with `request.expected_source`, the
    identity the source had before that inspection: the check below proves it is still
    that file, so what was inspected is what is converted.
    """
    source = Path(os.path.abspath(request.source))
    destination = Path(os.path.abspath(request.destination))
    options = build_options(request)
    target = str(check_regular_file(os.path.realpath(source)))  # one sentence if it is not there
    if inspected is not None and (
        request.expected_source is None
        or request.member is not None
        or os.path.realpath(inspected.path) != target
    ):
        raise ValueError("A report made by the caller needs the source's identity from before it.")
    before = settled_identity(target)  # taken before inspection: see ConvertJob.run
    if request.expected_source not in (None, (before.device, before.inode, before.ctime_ns)):
        raise SourceChanged(f"{source} is no longer the file that was verified; nothing was converted.")
    image: str | FileRange = target
    chain: Chain = ()
    layer_identities: tuple[FileIdentity, ...] = ()
    if request.member is not None:
        image = replace(request.member, path=target)
        report = require_safe(inspect_member(image, qemu, request.declared, request.policy), str(source))
    else:
        report, chain, layer_identities = _gate(source, qemu, request, inspected)
    folder = destination.parent
    if not folder.is_dir():
        raise DiskscopeError(f"The destination folder {folder} does not exist.")
    if os.path.isfile(destination) and os.path.samefile(destination, source):
        raise DiskscopeError("The destination is the source itself.")
    check_destination(destination, request.overwrite)
    fmt = report.format.qemu_driver
    virtual = report.virtual_size or 0
    if request.round_to:
        virtual = -(-virtual // request.round_to) * request.round_to
    source_map = whole_map(qemu, image, fmt, report.virtual_size or 0, chain)
    data_bytes = None if source_map is None else sum(e.length for e in source_map if e.data)
    required = _required(qemu, request, image, fmt, options, data_bytes, virtual, chain)
    free = free_space(folder)
    if required > free:
        raise NotEnoughSpace(
            f"The conversion needs {human_size(required)} ({required:,} bytes) but only "
            f"{human_size(free)} ({free:,} bytes) is free in {folder}."
        )
    compress = request.compression is not None
    cache = request.cache or ("none" if supports_direct_io(folder) else "writeback")
    spec = ConvertSpec(
        source=image,
        source_format=fmt,
        target=str(folder / ".diskscope-XXXXXXXX" / part_name(destination)),  # made by run()
        target_format=request.target,
        options=options,
        compress=compress,
        no_create=bool(request.round_to and virtual != report.virtual_size),
        cache=cache,
        source_cache=request.source_cache,
        coroutines=request.coroutines,
        out_of_order=request.target in ("raw", "qcow2") and not compress,
        rate_limit=request.rate_limit,
        source_chain=chain,
    )
    identities = (before, *layer_identities)
    return ConvertPlan(request, report, spec, required, free, data_bytes, virtual, identities, source_map)


def part_name(destination: Path) -> str:
    return destination.name + ".part"


def _required(
    qemu: QemuImg,
    request: ConvertRequest,
    path: str | FileRange,
    fmt: str,
    options: tuple[str, ...],
    data_bytes: int | None,
    virtual: int,
    chain: tuple[tuple[str, str], ...],
) -> int:
    """Bytes the output will take: `measure` where qemu-img can, an upper estimate elsewhere."""
    sparse = request.preallocation in (None, "off") and request.subformat != "fixed"
    if request.target == "raw" and sparse and data_bytes is not None:
        return data_bytes  # raw output stays sparse: only the data takes space
    with contextlib.suppress(MeasureUnsupported):
        return qemu.measure(path, fmt, request.target, options, chain).required
    # vpc, vhdx and vdi: the data (or the whole disk when fixed) plus metadata room.
    payload = data_bytes if sparse and data_bytes is not None else virtual
    return payload + payload // 64 + (8 << 20)


Chain = tuple[tuple[str, str], ...]


def _gate(
    source: Path, qemu: QemuImg, request: ConvertRequest, inspected: ImageReport | None
) -> tuple[ImageReport, Chain, tuple[FileIdentity, ...]]:
    """The inspected source (`inspected`, or inspected now); with an owned chain, also its
    backing layers (path, format) and their identities, taken before the inspection that
    is used (the walk runs twice)."""
    policy = request.policy
    report = (
        inspected if inspected is not None else inspect_image(source, qemu, request.declared, policy=policy)
    )
    if report.safe:
        return report, (), ()
    only_backing = all(v.code == ViolationCode.BACKING_FILE for v in report.violations)
    if not (request.allow_owned_backing and only_backing):
        require_safe(report, str(source))
    first = _sound_chain(walk_backing_chain(source, qemu, policy, top=report))
    identities = tuple(settled_identity(os.path.realpath(layer.path)) for layer in first[1:])
    layers = _sound_chain(walk_backing_chain(source, qemu, policy))
    if [layer.path for layer in layers] != [layer.path for layer in first]:
        raise SourceChanged("The backing chain changed while it was inspected; convert it again.")
    chain = tuple((os.path.realpath(layer.path), _driver(layer)) for layer in layers[1:])
    return replace(report, info=layers[0].info, violations=()), chain, identities


def _sound_chain(layers: list[ChainLayer]) -> list[ChainLayer]:
    if chain_is_sound(layers):
        return layers
    bad = next(layer for layer in layers if layer.status != LayerStatus.OK)
    raise UnsafeImage(f"The backing chain cannot be used: {bad.path}: {bad.message}")


def _driver(layer: ChainLayer) -> str:
    assert layer.format is not None  # a sound layer was inspected
    return layer.format.qemu_driver


MAX_EXTENTS = 100_000  # a map holds at most this many ranges (a few MiB of JSON)


def whole_map(
    qemu: QemuImg, path: str | FileRange, fmt: str, size: int, chain: Chain = ()
) -> tuple[MapExtent, ...] | None:
    """The allocation map of the whole disk, from a bounded `map`; None when it is too
    fragmented to hold (or qemu-img cannot map it). The plan sizes a raw output and the
    progress by it, and the verification compares the output's with it."""
    if size == 0:
        return ()
    try:
        extents = qemu.map(path, fmt, max_length=size, max_extents=MAX_EXTENTS, chain=chain)
    except QemuImgError:
        return None
    if sum(e.length for e in extents) < size:
        return None
    return tuple(extents)
