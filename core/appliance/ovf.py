"""The OVF descriptor: which files and disks an appliance has, and the hardware that matters
for a migration (CPUs, memory, firmware, disk controllers, network cards).

The descriptor is untrusted XML, parsed with defusedxml and no DTD at all: the stock
parser would expand entities (a "billion laughs" eats the memory) and, in other
parsers, fetch external ones (XXE). Elements are matched by local name, so OVF 1.x and
2.0 and the VMware and VirtualBox extensions read alike.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import defusedxml
import defusedxml.ElementTree as SafeET

from ..errors import ApplianceProblem, UnsafeAppliance
from ..formats import ImageFormat
from ..text import printable

MAX_DESCRIPTOR = 1 << 20  # real ones are tens of KiB; parsing the limit takes about a second

# CIM_ResourceAllocationSettingData.ResourceType values (DSP1041).
_CPU, _MEMORY, _IDE, _SCSI, _ETHERNET, _OTHER_NIC, _DISK, _OTHER_STORAGE = 3, 4, 5, 6, 10, 11, 17, 20
_CONTROLLERS = {_IDE: "IDE", _SCSI: "SCSI", 7: "Fibre Channel", 8: "iSCSI", _OTHER_STORAGE: "storage"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_UNITS = re.compile(r"^byte(?:\s*\*\s*(\d+)\s*\^\s*(\d+))?$", re.IGNORECASE)
_NAMED_UNITS = {"kilobytes": 1 << 10, "megabytes": 1 << 20, "gigabytes": 1 << 30, "terabytes": 1 << 40}


@dataclass(frozen=True)
class FileRef:
    """A `References/File`: a file of the appliance, named relative to the descriptor."""

    id: str
    href: str
    size: int | None


@dataclass(frozen=True)
class DiskSpec:
    """A `DiskSection/Disk`: a virtual disk, stored in a file unless it starts out empty."""

    disk_id: str
    file_id: str | None
    capacity: int | None  # bytes
    format_uri: str | None

    @property
    def expected_format(self) -> tuple[ImageFormat, str | None] | None:
        """The format (and VMDK create type) ovf:format promises, None when we do not know it."""
        uri = (self.format_uri or "").lower()
        if "vmdk" in uri:
            fragment = (self.format_uri or "").partition("#")[2]
            return ImageFormat.VMDK, fragment if fragment in ("streamOptimized", "monolithicSparse") else None
        if "qcow" in uri:
            return ImageFormat.QCOW2, None
        if uri.endswith("#raw") or uri == "raw":
            return ImageFormat.RAW, None
        return None


@dataclass(frozen=True)
class VirtualSystem:
    name: str
    cpus: int | None
    memory: int | None  # bytes
    firmware: str | None  # "EFI" or "BIOS" where the descriptor says; None: not stated
    controllers: tuple[str, ...]  # "SCSI (lsilogic)", "IDE", "SATA (AHCI)"
    nics: tuple[str, ...]  # "VmxNet3 on VM Network"
    disk_controllers: tuple[tuple[str, str], ...]  # (disk id, the controller it hangs on)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "cpus": self.cpus,
            "memory": self.memory,
            "firmware": self.firmware,
            "controllers": list(self.controllers),
            "nics": list(self.nics),
        }


@dataclass(frozen=True)
class Descriptor:
    files: tuple[FileRef, ...]
    disks: tuple[DiskSpec, ...]
    systems: tuple[VirtualSystem, ...]

    def file(self, file_id: str) -> FileRef | None:
        return next((f for f in self.files if f.id == file_id), None)

    def controller_of(self, disk_id: str) -> str | None:
        for system in self.systems:
            for disk, controller in system.disk_controllers:
                if disk == disk_id:
                    return controller
        return None


def parse_descriptor(data: bytes, name: str) -> Descriptor:
    """The descriptor `name`'s content, or UnsafeAppliance saying in one sentence why not."""
    shown = printable(name)
    try:
        root = SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DefusedXmlException:
        raise UnsafeAppliance(
            f"The descriptor {shown} was refused: it declares a DTD or entities, which an OVF never "
            "needs and XML attacks (entity bombs, external entities) rely on.",
            ApplianceProblem.FORBIDDEN_XML,
        ) from None
    except ET.ParseError as exc:
        raise UnsafeAppliance(
            f"The descriptor {shown} is not well-formed XML (line {exc.position[0]}).",
            ApplianceProblem.MALFORMED_XML,
        ) from None
    if _local(root.tag) != "Envelope":
        raise UnsafeAppliance(f"The descriptor {shown} is not an OVF envelope.", ApplianceProblem.DESCRIPTOR)
    files = tuple(_file(e, shown) for e in _children(root, "References", "File"))
    ids = [f.id for f in files]
    if len(set(ids)) != len(ids) or len({f.href for f in files}) != len(files):
        raise UnsafeAppliance(f"The descriptor {shown} names a file twice.", ApplianceProblem.DESCRIPTOR)
    disks = tuple(_disk(e, shown) for e in _children(root, "DiskSection", "Disk"))
    systems = tuple(_system(e, shown) for e in root.iter() if _local(e.tag) == "VirtualSystem")
    if not systems:
        raise UnsafeAppliance(
            f"The descriptor {shown} describes no virtual machine.", ApplianceProblem.DESCRIPTOR
        )
    return Descriptor(files, disks, systems)


def _check_href(href: str, shown: str) -> str:
    """A File's href, if it names a file inside the appliance: no URL, no absolute path, no `..`."""
    if not href or _SCHEME.match(href) or href.startswith("/") or "\\" in href or "\0" in href:
        raise UnsafeAppliance(
            f"The descriptor {shown} was refused: its file {printable(href)!r} is not a plain name "
            "inside the appliance (a URL or an absolute path).",
            ApplianceProblem.BAD_HREF,
        )
    if ".." in href.split("/"):
        raise UnsafeAppliance(
            f"The descriptor {shown} was refused: its file {printable(href)!r} points outside the appliance.",
            ApplianceProblem.BAD_HREF,
        )
    return href.removeprefix("./")


def _file(e: ET.Element, shown: str) -> FileRef:
    attrs = _attrs(e)
    if attrs.get("compression") or attrs.get("chunkSize"):
        raise UnsafeAppliance(
            f"The descriptor {shown} names a compressed or chunked file "
            f"({printable(attrs.get('href', ''))!r}), which Diskscope does not read yet.",
            ApplianceProblem.UNSUPPORTED,
        )
    href = _check_href(attrs.get("href", ""), shown)
    return FileRef(attrs.get("id", href), href, _number(attrs.get("size"), shown))


def _disk(e: ET.Element, shown: str) -> DiskSpec:
    attrs = _attrs(e)
    capacity = _number(attrs.get("capacity"), shown)
    if capacity is not None:
        capacity *= _unit(attrs.get("capacityAllocationUnits") or "byte", shown)
    return DiskSpec(attrs.get("diskId", ""), attrs.get("fileRef"), capacity, attrs.get("format"))


def _system(e: ET.Element, shown: str) -> VirtualSystem:
    name = _text(e, "Name") or _attrs(e).get("id", "")
    cpus = memory = None
    controllers: dict[str, str] = {}
    nics: list[str] = []
    disk_items: list[tuple[str, str]] = []
    for item in e.iter():
        if _local(item.tag) not in ("Item", "StorageItem", "EthernetPortItem"):
            continue
        kind = _number(_text(item, "ResourceType"), shown)
        quantity = _number(_text(item, "VirtualQuantity"), shown)
        subtype = _text(item, "ResourceSubType")
        if kind == _CPU:
            cpus = quantity
        elif kind == _MEMORY and quantity is not None:
            memory = quantity * _unit(_text(item, "AllocationUnits") or "byte * 2^20", shown)
        elif kind in _CONTROLLERS:
            controllers[_text(item, "InstanceID")] = _controller(kind, subtype)
        elif kind in (_ETHERNET, _OTHER_NIC):
            network = _text(item, "Connection")
            nics.append((subtype or "network adapter") + (f" on {network}" if network else ""))
        elif kind == _DISK:
            host = _text(item, "HostResource")
            disk_items.append((host.rsplit("/", 1)[-1], _text(item, "Parent")))
    placed = tuple((disk, controllers.get(parent, "unknown controller")) for disk, parent in disk_items)
    return VirtualSystem(name, cpus, memory, _firmware(e), tuple(controllers.values()), tuple(nics), placed)


def _controller(kind: int, subtype: str) -> str:
    lowered = subtype.lower()
    if "ahci" in lowered or "sata" in lowered:
        return f"SATA ({subtype})"
    if "nvme" in lowered:
        return f"NVMe ({subtype})"
    return _CONTROLLERS[kind] + (f" ({subtype})" if subtype else "")


def _firmware(system: ET.Element) -> str | None:
    """VMware: `<vmw:Config vmw:key="firmware" vmw:value="efi"/>`; VirtualBox: `<Firmware type="EFI"/>`."""
    for e in system.iter():
        attrs = _attrs(e)
        if _local(e.tag) == "Config" and attrs.get("key") == "firmware":
            return "EFI" if attrs.get("value", "").lower() == "efi" else "BIOS"
        if _local(e.tag) == "Firmware" and "type" in attrs:
            return "EFI" if attrs["type"].upper().startswith("EFI") else "BIOS"
    return None


def _unit(text: str, shown: str) -> int:
    """Bytes per unit of "byte", "byte * 2^20" (DSP0004's programmatic units) or "MegaBytes"."""
    text = text.strip()
    match = _UNITS.match(text)
    if match:
        if match[1] is None:
            return 1
        base, power = int(match[1]), int(match[2])
        if base in (2, 10, 1024) and power <= 64:
            return int(base**power)
    if text.lower() in _NAMED_UNITS:
        return _NAMED_UNITS[text.lower()]
    raise UnsafeAppliance(
        f"The descriptor {shown} uses the unit {printable(text)!r}, which Diskscope does not know.",
        ApplianceProblem.DESCRIPTOR,
    )


def _number(text: str | None, shown: str) -> int | None:
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit() or len(text.strip()) > 20:
        raise UnsafeAppliance(
            f"The descriptor {shown} holds {printable(text.strip()[:40])!r} where a number belongs.",
            ApplianceProblem.DESCRIPTOR,
        )
    return int(text)


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _attrs(e: ET.Element) -> dict[str, str]:
    return {_local(k): v for k, v in e.attrib.items()}


def _text(e: ET.Element, name: str) -> str:
    child = next((c for c in e if _local(c.tag) == name), None)
    return (child.text or "").strip() if child is not None else ""


def _children(root: ET.Element, section: str, name: str) -> Iterator[ET.Element]:
    for s in root:
        if _local(s.tag) == section:
            yield from (c for c in s if _local(c.tag) == name)
