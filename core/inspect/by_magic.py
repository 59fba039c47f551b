"""Other formats qemu knows, recognised by their magic alone.

qed, bochs, cloop and dmg (like qcow v1, in qcow.py) are refused outright: obsolete,
unmaintained, or read-only drivers with a history of parser bugs, none of which a
hypervisor should be handed. Parallels images are accepted.
"""

from __future__ import annotations

import struct

from ..formats import ImageFormat
from .detection import Detection, violation
from .verdict import ViolationCode
from .view import HeaderView

PARALLELS_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")
_HEAD_MAGICS = {
    b"QED\x00": ImageFormat.QED,
    b"Bochs Virtual HD Image": ImageFormat.BOCHS,
    b"#!/bin/sh\n#V2.0 Format\n": ImageFormat.CLOOP,
}


def detect_banned(view: HeaderView) -> Detection | None:
    fmt = next((f for magic, f in _HEAD_MAGICS.items() if view.head.startswith(magic)), None)
    if fmt is None:
        trailer = view.at_end(512)
        if trailer is None or not trailer.startswith(b"koly"):
            return None
        fmt = ImageFormat.DMG
    return Detection(
        fmt,
        violations=(
            violation(
                ViolationCode.BANNED_FORMAT,
                f"The {fmt.value} format is not accepted: its qemu driver is obsolete or "
                "read-only and has a history of parser bugs.",
            ),
        ),
    )


def detect_parallels(view: HeaderView) -> Detection | None:
    head = view.head
    if not head.startswith(PARALLELS_MAGICS) or len(head) < 64:
        return None
    (sectors,) = struct.unpack_from("<Q", head, 36)
    (cluster_sectors,) = struct.unpack_from("<I", head, 28)
    return Detection(
        ImageFormat.PARALLELS,
        virtual_size=sectors * 512,
        cluster_size=cluster_sectors * 512 or None,
    )
