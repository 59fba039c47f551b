"""Walking a backing chain one layer at a time, each layer through the safety gate.

qemu-img is never asked for `--backing-chain`: every layer is inspected by our
inspector first and opened by qemu-img (without its backing) only if it passes,
a backing file being the one thing forgiven. Links that leave the top image's
folder, protocol names, missing files and loops end the walk and are marked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from diskscope.core.errors import InvalidPath, QemuImgError
from diskscope.core.formats import ImageFormat, parse_format_name
from diskscope.core.image_info import ImageInfo
from diskscope.core.inspect.inspector import InspectionResult, inspect_file
from diskscope.core.inspect.verdict import ViolationCode
from diskscope.core.qemu_img import QemuImg

MAX_DEPTH = 64
_PROTOCOL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


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
    path: Path  # where that name leads
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


def walk_backing_chain(path: str | os.PathLike[str], qemu: QemuImg) -> list[ChainLayer]:
    """Every layer from the top image down to the base, or to the first problem."""
    top = Path(os.path.abspath(path))
    folder = Path(os.path.realpath(top.parent))
    layers: list[ChainLayer] = []
    seen: set[str] = set()
    link: str | None = None
    current, declared = top, None
    for depth in range(MAX_DEPTH):
        layer = _layer(depth, link, current, declared, folder, seen, qemu)
        layers.append(layer)
        insp = layer.inspection
        if layer.status != LayerStatus.OK or insp is None or not insp.backing_file:
            return layers
        link = insp.backing_file
        current = Path(os.path.normpath(current.parent / link))
        declared = _declared_backing_format(insp)
    layers.append(ChainLayer(MAX_DEPTH, link, current, LayerStatus.REFUSED, "The chain is too deep."))
    return layers


def chain_is_sound(layers: list[ChainLayer]) -> bool:
    """True when every layer was opened and passed: only then may qemu follow the chain."""
    return all(layer.status == LayerStatus.OK for layer in layers)


def _layer(
    depth: int,
    link: str | None,
    path: Path,
    declared: ImageFormat | None,
    folder: Path,
    seen: set[str],
    qemu: QemuImg,
) -> ChainLayer:
    if link is not None and _PROTOCOL.match(link):
        return ChainLayer(depth, link, path, LayerStatus.REFUSED, "The link is a protocol name.")
    if not os.path.lexists(path):
        return ChainLayer(depth, link, path, LayerStatus.MISSING, "The file does not exist.")
    real = os.path.realpath(path)
    if real in seen:
        return ChainLayer(depth, link, path, LayerStatus.LOOP, "The chain loops back here.")
    seen.add(real)
    if link is not None and Path(real).parent != folder and folder not in Path(real).parents:
        return ChainLayer(depth, link, path, LayerStatus.OUTSIDE, "Not opened: it lies outside the folder.")
    try:
        insp = inspect_file(path, declared)
    except InvalidPath as exc:
        return ChainLayer(depth, link, path, LayerStatus.REFUSED, str(exc))
    blocking = [v for v in insp.violations if v.code != ViolationCode.BACKING_FILE]
    if blocking:
        return ChainLayer(depth, link, path, LayerStatus.REFUSED, blocking[0].message, insp)
    try:
        info = qemu.info(real, insp.format.qemu_driver)
    except QemuImgError as exc:
        return ChainLayer(depth, link, path, LayerStatus.REFUSED, str(exc), insp)
    return ChainLayer(depth, link, path, LayerStatus.OK, "", insp, info)


def _declared_backing_format(insp: InspectionResult) -> ImageFormat | None:
    name = insp.details.get("backing_format")
    if not isinstance(name, str):
        return None
    try:
        return parse_format_name(name)
    except ValueError:
        return None
