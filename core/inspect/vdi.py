"""VirtualBox VDI: a 512-byte little-endian header after a text banner."""

from __future__ import annotations

import struct

from ..formats import ImageFormat
from .detection import Detection, implausible, truncated, violation
from .verdict import Violation, ViolationCode
from .view import HeaderView

SIGNATURE = 0xBEDA107F
HEADER_SIZE = 512
TYPES = {1: "dynamic", 2: "fixed", 3: "undo", 4: "differencing"}


def detect(view: HeaderView) -> Detection | None:
    head = view.head
    if len(head) < 0x44 or struct.unpack_from("<I", head, 0x40)[0] != SIGNATURE:
        return None
    if len(head) < HEADER_SIZE:
        return Detection(ImageFormat.VDI, violations=(truncated("VDI", HEADER_SIZE, len(head)),))
    (image_type,) = struct.unpack_from("<I", head, 0x4C)
    (disk_size,) = struct.unpack_from("<Q", head, 0x170)
    block_size, _extra, blocks, allocated = struct.unpack_from("<IIII", head, 0x178)
    parent_uuid = head[0x1A8:0x1B8]
    subformat = TYPES.get(image_type)
    problems: list[Violation] = []
    if subformat is None:
        problems.append(implausible(f"The VDI image type {image_type} does not exist."))
    if subformat in ("undo", "differencing") or any(parent_uuid):
        problems.append(violation(ViolationCode.BACKING_FILE, "This VDI depends on a parent disk image."))
    if block_size == 0 or block_size & (block_size - 1) or block_size > (1 << 30):
        problems.append(implausible(f"The VDI block size of {block_size} bytes is impossible."))
    elif blocks * block_size < disk_size or allocated > blocks:
        problems.append(implausible("The VDI block map cannot cover the disk size."))
    if disk_size > (1 << 48):
        problems.append(implausible(f"The VDI size of {disk_size} bytes is absurd."))
    return Detection(
        ImageFormat.VDI,
        virtual_size=disk_size,
        subformat=subformat,
        cluster_size=block_size or None,
        violations=tuple(problems),
    )
