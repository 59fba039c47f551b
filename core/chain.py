"""Walking a backing chain one layer at a time, each layer through the safety gate.

qemu-img is never asked for `--backing-chain`: every layer goes through the same
gate as a top image (our inspector, then `qemu-img info -f FORMAT` of that layer
alone: `info` opens an image without its backing file), a backing file being the
one thing forgiven. A link is followed only as qemu would follow it:

- our inspector and qemu-img must read the same backing name and the same backing
  format; a format that is not recorded is refused, because qemu would guess it;
- the name is joined to the directory of the layer above exactly as qemu's
  path_combine() joins it (no `..` folded away: the kernel follows a symbolic link
  before it goes up), and only the real path that join leads to is opened;
- that real path must lie inside the top image's folder.

Protocol names, missing files and loops end the walk too, and are marked.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path

from .errors import InvalidPath
from .formats import ImageFormat, parse_format_name
from .inspect.inspector import InspectionResult
from .inspect.verdict import ViolationCode
from .policy import DEFAULT_POLICY, InspectionPolicy
from .qemu.image_info import ImageInfo
from .qemu.qemu_img import QemuImg
from .safety import ImageReport, inspect_image, second_opinion

MAX_DEPTH = 64


class LayerStatus(StrEnum):
    OK = "ok"
    MISSING = "missing"
    LOOP = "loop"
    OUTSIDE = "outside"
    REFUSED = "refused"


@dataclass(frozen=True)
class ChainLayer:
    depth: int
    link: str | None  # the name as the layer above wrote it; None for the top image
    path: Path  # the name qemu opens: the link joined to the directory of the layer above
    status: LayerStatus
    message: str = ""
    inspection: InspectionResult | None = None
    info: ImageInfo | None = None

    @property
    def link_kind(self) -> str:
        if self.link is None:
            return "top"
        return "absolute" if self.link.startswith("/") else "relative"

    @property
    def format(self) -> ImageFormat | None:
        return self.inspection.format if self.inspection else None


class _Refused(Exception):
    """A link that must not be followed; the message is the layer's."""

    def __init__(self, status: LayerStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class _Walk:
    """What every layer is checked against: the top's folder and the files already seen."""

    folder: Path
    qemu: QemuImg
    policy: InspectionPolicy
    seen: set[tuple[int, int]]


def walk_backing_chain(
    path: str | os.PathLike[str],
    qemu: QemuImg,
    policy: InspectionPolicy = DEFAULT_POLICY,
    top: ImageReport | None = None,
) -> list[ChainLayer]:
    """Every layer from the top image down to the base, or to the first problem.

    `top`, when the caller has already inspected the top image, is used as it is.
    The top is named by its real path, as every qemu-img call of ours names it, so
    that relative links are read from the directory qemu reads them from.
    """
    name = os.path.realpath(path)
    walk = _Walk(Path(os.path.dirname(name)), qemu, policy, set())
    layers = [_open_layer(walk, 0, None, name, None, top)]
    for depth in range(1, MAX_DEPTH + 1):
        above = layers[-1]
        if above.status != LayerStatus.OK:
            return layers
        try:
            link = _link_below(above)
            if link is None:
                return layers
            if depth == MAX_DEPTH:
                raise _Refused(LayerStatus.REFUSED, "The chain is too deep.")
        except _Refused as exc:
            named = _backing_link(above) or ""
            where = Path(path_combine(str(above.path), named)) if named else above.path
            layers.append(ChainLayer(depth, named, where, exc.status, str(exc)))
            return layers
        layers.append(_follow(walk, depth, link[0], str(above.path), link[1]))
    return layers


def chain_is_sound(layers: list[ChainLayer]) -> bool:
    """True when every layer was opened and passed: only then may qemu follow the chain."""
    return all(layer.status == LayerStatus.OK for layer in layers)


def has_protocol(name: str) -> bool:
    """qemu's path_has_protocol(): a `:` before any `/` makes a protocol (`nbd:`, `json:`)."""
    head = name.split("/", 1)[0]
    return ":" in head


def path_combine(base: str, name: str) -> str:
    """qemu's path_combine() for plain file names: `name` beside `base`, joined as text."""
    if name.startswith("/"):
        return name
    return base[: base.rfind("/") + 1] + name


def _backing_link(layer: ChainLayer) -> str | None:
    if layer.info and layer.info.backing_filename:
        return layer.info.backing_filename
    return layer.inspection.backing_file if layer.inspection else None


def _link_below(layer: ChainLayer) -> tuple[str, ImageFormat] | None:
    """The (name, format) both readers agree the layer is backed by, None at the base."""
    assert layer.inspection is not None and layer.info is not None
    ours, theirs = layer.inspection.backing_file or None, layer.info.backing_filename or None
    if ours != theirs:
        raise _Refused(
            LayerStatus.REFUSED,
            f"Our inspector reads the backing file as {ours!r} but qemu-img reads {theirs!r}.",
        )
    if theirs is None:
        parent = [v for v in layer.inspection.violations if v.code == ViolationCode.BACKING_FILE]
        if parent:  # a differencing VHD or VDI: a parent qemu does not name
            raise _Refused(LayerStatus.REFUSED, parent[0].message)
        return None
    our_format, qemu_format = _our_backing_format(layer.inspection), layer.info.backing_format
    if qemu_format is None:
        raise _Refused(
            LayerStatus.REFUSED,
            "The backing file's format is not recorded, so qemu would guess it from the content.",
        )
    if our_format != qemu_format:
        raise _Refused(
            LayerStatus.REFUSED,
            f"Our inspector reads the backing format as {our_format!r} but qemu-img reads {qemu_format!r}.",
        )
    try:
        return theirs, parse_format_name(qemu_format)
    except ValueError:
        raise _Refused(LayerStatus.REFUSED, f"The backing format {qemu_format!r} is unknown.") from None


def _our_backing_format(insp: InspectionResult) -> str | None:
    name = insp.details.get("backing_format")
    if isinstance(name, str):
        return name
    if insp.format == ImageFormat.VMDK and insp.backing_file:
        return "vmdk"  # qemu's vmdk driver opens a parent (parentFileNameHint) as vmdk, always
    return None


def _follow(walk: _Walk, depth: int, link: str, above: str, fmt: ImageFormat) -> ChainLayer:
    if has_protocol(link):
        return ChainLayer(depth, link, Path(link), LayerStatus.REFUSED, "The link is a protocol name.")
    name = path_combine(above, link)
    return _open_layer(walk, depth, link, name, fmt, None)


def _open_layer(
    walk: _Walk,
    depth: int,
    link: str | None,
    name: str,
    declared: ImageFormat | None,
    top: ImageReport | None,
) -> ChainLayer:
    def layer(status: LayerStatus, message: str = "", report: ImageReport | None = None) -> ChainLayer:
        insp, info = (report.inspection, report.info) if report else (None, None)
        return ChainLayer(depth, link, Path(name), status, message, insp, info)

    try:
        real = _where(walk, name, link is not None)
    except _Refused as exc:
        return layer(exc.status, str(exc))
    try:
        report = top or inspect_image(real, walk.qemu, declared, walk.policy)
    except InvalidPath as exc:
        return layer(LayerStatus.REFUSED, str(exc))
    if report.info is None and all(v.code == ViolationCode.BACKING_FILE for v in report.violations):
        report = _with_second_opinion(real, report, walk.qemu)
    blocking = [v for v in report.violations if v.code != ViolationCode.BACKING_FILE]
    if blocking:
        return layer(LayerStatus.REFUSED, blocking[0].message, report)
    return layer(LayerStatus.OK, "", report)


def _with_second_opinion(real: str, report: ImageReport, qemu: QemuImg) -> ImageReport:
    """qemu-img's view of a layer refused only for its backing link (`qemu-img info`
    never opens a backing file): its reading of the link is compared with ours."""
    info, problems = second_opinion(real, report.inspection, qemu)
    extra = tuple(v for v in problems if v.code != ViolationCode.BACKING_FILE)
    return replace(report, info=info, violations=report.violations + extra)


def _where(walk: _Walk, name: str, below_top: bool) -> str:
    """The real path `name` leads to (the kernel's reading of it), checked."""
    try:
        real = os.path.realpath(name, strict=True)
        st = os.stat(real)
    except FileNotFoundError:
        raise _Refused(LayerStatus.MISSING, "The file does not exist.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _Refused(LayerStatus.REFUSED, "The name is a symbolic link loop.") from None
        raise _Refused(LayerStatus.REFUSED, f"The file cannot be read: {exc.strerror}.") from None
    if below_top and not Path(real).is_relative_to(walk.folder):
        raise _Refused(LayerStatus.OUTSIDE, f"Not opened: it leads outside the folder, to {real}.")
    if (st.st_dev, st.st_ino) in walk.seen:
        raise _Refused(LayerStatus.LOOP, "The chain loops back here.")
    walk.seen.add((st.st_dev, st.st_ino))
    return real
