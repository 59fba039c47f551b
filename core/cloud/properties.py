"""Image properties: checked against what the server says it takes (its image schema and
metadata definitions) before the image is created, and suggested from what the image
shows, each suggestion with where it came from.

Nova reads these properties when it boots the image; a wrong `hw_disk_bus` or a missing
`hw_firmware_type=uefi` gives a guest that does not find its disk or does not boot, which
shows up only at the first boot, long after the upload.
"""

from __future__ import annotations

import re
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidProperty
from ..formats import ImageFormat
from ..text import printable
from .glance_write import GlanceWriter

# The properties an admin most often sets by hand, offered by the window.
COMMON = (
    "hw_disk_bus", "hw_scsi_model", "hw_vif_model", "hw_firmware_type", "hw_machine_type",
    "hw_qemu_guest_agent", "os_type", "os_distro", "os_version",
)  # fmt: skip
# Set by the upload itself (or, for `protected`, only once the image is verified).
OURS = {
    "name": "--name", "disk_format": "--disk-format", "container_format": "", "protected": "--protected",
    "visibility": "--visibility", "min_disk": "--min-disk", "min_ram": "--min-ram", "tags": "--tag",
}  # fmt: skip
MAX_KEY = 255
ESP = uuid.UUID("c12a7328-f81f-11d2-ba4b-00a0c93ec93b").bytes_le
SECTOR = 512
MAX_ENTRIES = 128
_ADAPTER = re.compile(rb'ddb\.adapterType\s*=\s*"([A-Za-z0-9_-]{1,32})"')


@dataclass(frozen=True)
class Suggestion:
    key: str
    value: str
    reason: str  # where it came from, in words


def check_properties(given: Mapping[str, str]) -> None:
    """Refuse, before asking the server, what the upload sets itself."""
    for key in given:
        if key in OURS:
            option = OURS[key]
            how = f"use {option}" if option else "the upload sets it"
            raise InvalidProperty(f"The property {key!r} is not given with --property: {how}.")


def check_fields(writer: GlanceWriter, fields: Mapping[str, Any]) -> None:
    """Every field against the server's image schema and metadata definitions."""
    problems = problems_with(fields, writer.image_schema(), writer.metadefs())
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidProperty(f"{problems[0]}{more}")


def problems_with(fields: Mapping[str, Any], schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[str]:
    """One sentence for each field the server would refuse, or Nova would not understand."""
    problems = []
    known = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for key, value in fields.items():
        shown = printable(str(key))
        if len(key) > MAX_KEY:
            problems.append(f"The property name {shown[:40]!r}... is longer than {MAX_KEY} characters.")
            continue
        spec = known.get(key) if isinstance(known, dict) else None
        if isinstance(spec, dict):
            if spec.get("readOnly"):
                problems.append(f"The image service sets {shown!r} itself; it cannot be given.")
                continue
            problem = _against(spec, key, value)
        elif schema.get("additionalProperties") is False:
            problem = f"The image service takes no property {shown!r}."
        else:
            extra = schema.get("additionalProperties")
            problem = _against(extra, key, value) if isinstance(extra, dict) else None
            if problem is None and isinstance(defs.get(key), dict):
                problem = _against_definition(defs[key], key, str(value))
        if problem:
            problems.append(problem)
    return problems


def _against(spec: Mapping[str, Any], key: str, value: Any) -> str | None:
    """A JSON-schema fragment's type, enum and maxLength: what Glance's schema uses."""
    types = spec.get("type")
    allowed = types if isinstance(types, list) else [types] if types else []
    kinds = {"string": str, "integer": int, "boolean": bool, "array": list, "null": type(None)}
    shown = printable(str(value))
    if allowed and not any(isinstance(value, kinds.get(t, object)) for t in allowed):
        return f"{key!r} must be {' or '.join(allowed)}, not {shown!r}."
    enum = spec.get("enum")
    if isinstance(enum, list) and value not in enum:
        choices = ", ".join(str(e) for e in enum if e is not None)
        return f"{key!r} cannot be {shown!r}; the image service takes {choices}."
    limit = spec.get("maxLength")
    if isinstance(limit, int) and isinstance(value, str) and len(value) > limit:
        return f"{key!r} is longer than the {limit} characters the image service takes."
    return None


def _against_definition(spec: Mapping[str, Any], key: str, value: str) -> str | None:
    """A metadata definition: its enum, or what its type means for a string value."""
    kind = spec.get("type")
    enum = spec.get("enum")
    shown = printable(value)
    if isinstance(enum, list) and enum and value not in enum:
        allowed = ", ".join(map(str, enum))
        return f"{key!r} cannot be {shown!r}; the cloud's metadata definitions allow {allowed}."
    if kind == "boolean" and value.lower() not in ("true", "false"):
        return f"{key!r} is true or false, not {shown!r}."
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return f"{key!r} is a whole number, not {shown!r}."
    return None


def suggest(path: Path, found: ImageFormat) -> list[Suggestion]:
    """Properties the image itself argues for; reads a few sectors of the file."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return []
    if found == ImageFormat.VMDK:
        return _from_vmdk(head)
    if found == ImageFormat.GPT:
        return _from_gpt(head)
    if found == ImageFormat.MBR:
        return [Suggestion("hw_firmware_type", "bios",
                           "the disk has an MBR partition table and no GPT: it boots with BIOS")]  # fmt: skip
    return []


def _from_gpt(head: bytes) -> list[Suggestion]:
    for sector in (SECTOR, 4096):
        if head[sector : sector + 8] != b"EFI PART":
            continue
        first, count, size = struct.unpack_from("<QII", head, sector + 72)
        start = first * sector
        for i in range(min(count, MAX_ENTRIES)):
            entry = head[start + i * size : start + i * size + 16]
            if entry == ESP:
                return [Suggestion("hw_firmware_type", "uefi",
                                   f"partition {i + 1} of the GPT is an EFI system partition")]  # fmt: skip
    return []


def _from_vmdk(head: bytes) -> list[Suggestion]:
    match = _ADAPTER.search(head)
    if not match:
        return []
    adapter = match[1].decode()
    why = f"the VMDK descriptor names the {adapter} controller (ddb.adapterType)"
    if adapter == "ide":
        return [Suggestion("hw_disk_bus", "ide", why)]
    if adapter in ("lsilogic", "buslogic", "lsisas1068", "pvscsi", "legacyESX"):
        return [
            Suggestion("hw_disk_bus", "scsi", f"{why}: the guest boots from a SCSI disk"),
            Suggestion("hw_scsi_model", "virtio-scsi",
                       f"{why}; virtio-scsi is KVM's SCSI controller (the guest needs virtio drivers)"),
        ]  # fmt: skip
    return []
