"""LUKS (v1 and v2) encrypted containers, which qemu opens with its `luks` driver."""

from __future__ import annotations

import json
import struct
from typing import Any

from ..formats import ImageFormat
from .detection import Detection, implausible, truncated, violation
from .verdict import ViolationCode
from .view import HeaderView

MAGIC = b"LUKS\xba\xbe"
LUKS1_HEADER = 592
LUKS2_HEADER = 4096
KEYSLOT_ACTIVE = 0x00AC71F3
MAX_JSON_DEPTH = 32  # real LUKS2 metadata nests 4 deep; qemu's own JSON parser stops at 1024


def _text(data: bytes) -> str:
    return data.split(b"\0", 1)[0].decode("ascii", "replace")


def detect(view: HeaderView) -> Detection | None:
    head = view.head
    if not head.startswith(MAGIC):
        return None
    if len(head) < 8:
        return Detection(ImageFormat.LUKS, violations=(truncated("LUKS", LUKS1_HEADER, len(head)),))
    (version,) = struct.unpack_from(">H", head, 6)
    if version == 1:
        return _luks1(view)
    if version == 2:
        return _luks2(view)
    return Detection(ImageFormat.LUKS, violations=(implausible(f"LUKS version {version} does not exist."),))


def _luks1(view: HeaderView) -> Detection:
    head = view.head
    if len(head) < LUKS1_HEADER:
        return Detection(ImageFormat.LUKS, violations=(truncated("LUKS", LUKS1_HEADER, len(head)),))
    (payload_offset,) = struct.unpack_from(">I", head, 104)
    slots = [struct.unpack_from(">I", head, 208 + 48 * i)[0] == KEYSLOT_ACTIVE for i in range(8)]
    size = None
    if view.size is not None:
        size = max(view.size - payload_offset * 512, 0)
    return Detection(
        ImageFormat.LUKS,
        virtual_size=size,
        subformat="luks1",
        encrypted=True,
        details={
            "cipher_alg": _text(head[8:40]),
            "cipher_mode": _text(head[40:72]),
            "hash_alg": _text(head[72:104]),
            "payload_offset": payload_offset * 512,
            "active_slots": [i for i, active in enumerate(slots) if active],
        },
    )


def _luks2(view: HeaderView) -> Detection:
    """qemu 7.2 has no LUKS2 support (its probe calls such a file raw), so it is refused;
    the metadata is still read for the report."""
    head = view.head
    unsupported = violation(
        ViolationCode.BANNED_FORMAT, "This is a LUKS2 container, which qemu 7.2 cannot open."
    )
    if len(head) < LUKS2_HEADER:
        return Detection(
            ImageFormat.LUKS, violations=(unsupported, truncated("LUKS2", LUKS2_HEADER, len(head)))
        )
    (hdr_size,) = struct.unpack_from(">Q", head, 8)
    details: dict[str, object] = {"header_size": hdr_size}
    problems = [unsupported]
    area = view.read(LUKS2_HEADER, hdr_size - LUKS2_HEADER) if hdr_size > LUKS2_HEADER else None
    if area is not None:
        meta, problem = _metadata(_text(area))
        if problem is not None:
            problems.append(implausible(problem))
        else:
            details["keyslots"] = sorted(meta["keyslots"])
            details["segments"] = meta["segments"]
    return Detection(
        ImageFormat.LUKS, subformat="luks2", encrypted=True, details=details, violations=tuple(problems)
    )


def _metadata(text: str) -> tuple[dict[str, Any], str | None]:
    """The LUKS2 JSON metadata, or why it is unusable."""
    depth = _nesting(text)
    if depth > MAX_JSON_DEPTH:
        return {}, f"The LUKS2 metadata is nested {depth} levels deep."
    try:
        meta = json.loads(text)
    except ValueError:
        return {}, "The LUKS2 metadata is not valid JSON."
    if not isinstance(meta, dict):
        return {}, "The LUKS2 metadata is not a JSON object."
    for key in ("keyslots", "segments"):
        if not isinstance(meta.get(key, {}), dict):
            return {}, f"The LUKS2 metadata's {key!r} is not a JSON object."
    return {"keyslots": meta.get("keyslots", {}), "segments": meta.get("segments", {})}, None


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside strings: checked before json.loads() recurses."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest
