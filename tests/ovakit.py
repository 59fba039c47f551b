"""Test appliances: VMDKs made by the real `qemu-img convert -o subformat=streamOptimized`,
OVF text written here, OVAs packed by the real `tar`; hostile tars written byte by byte."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from diskscope.core.qemu.process import Completed, Limits
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import create, qemu_img, write_pattern

STREAM = "http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"


@dataclass(frozen=True)
class Disk:
    file: str  # the file name inside the appliance
    capacity: int  # bytes
    fmt: str = STREAM
    size: int | None = None  # ovf:size; None: the file's real size


def stream_vmdk(folder: Path, name: str, size: str = "64M", pattern: int | None = 0xAB) -> Path:
    """A streamOptimized VMDK holding `pattern` at 1 MiB (guest data to compare against)."""
    raw = folder / f"{name}.src.raw"
    create(raw, "raw", size)
    if pattern is not None:
        write_pattern(raw, "raw", 1 << 20, 64 << 10, pattern)
    out = folder / name
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, out)
    return out


def ovf_text(folder: Path, disks: Sequence[Disk], *, name: str = "web01", firmware: str = "efi",
             extra_files: str = "", doctype: str = "") -> str:  # fmt: skip
    """An OVF 1.0 descriptor as VMware's ovftool writes one: 2 CPUs, 2 GiB, a SCSI
    controller with the disks on it, a VmxNet3 NIC."""
    files, specs, items = [], [], []
    for i, d in enumerate(disks, 1):
        size = d.size if d.size is not None else (folder / d.file).stat().st_size
        files.append(f'<File ovf:id="file{i}" ovf:href="{d.file}" ovf:size="{size}"/>')
        specs.append(f'<Disk ovf:diskId="vmdisk{i}" ovf:fileRef="file{i}" ovf:capacity="{d.capacity}" '
                     f'ovf:capacityAllocationUnits="byte" ovf:format="{d.fmt}"/>')  # fmt: skip
        items.append(f"<Item><rasd:AddressOnParent>{i - 1}</rasd:AddressOnParent>"
                     f"<rasd:HostResource>ovf:/disk/vmdisk{i}</rasd:HostResource><rasd:InstanceID>{10 + i}"
                     "</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>")  # fmt: skip
    return f"""<?xml version="1.0" encoding="UTF-8"?>{doctype}
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
 xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References>{"".join(files)}{extra_files}</References>
  <DiskSection><Info>Virtual disks</Info>{"".join(specs)}</DiskSection>
  <VirtualSystem ovf:id="{name}"><Info>A virtual machine</Info><Name>{name}</Name>
    <VirtualHardwareSection><Info>Virtual hardware</Info>
      <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
      <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>lsilogic</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:Connection>VM Network</rasd:Connection><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      {"".join(items)}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="{firmware}"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def manifest(folder: Path, names: Sequence[str], algorithm: str = "SHA256") -> str:
    lines = [f"{algorithm}({n})= {hashlib.new(algorithm.lower(), (folder / n).read_bytes()).hexdigest()}"
             for n in names]  # fmt: skip
    return "\n".join(lines) + "\n"


def appliance_folder(folder: Path, disks: int = 1, *, with_manifest: bool = True) -> tuple[Path, list[str]]:
    """`vm.ovf` with `disks` streamOptimized disks (disk1.vmdk: 64 MiB, disk2.vmdk: 32 MiB...)
    and its manifest in `folder`; the files in OVA order."""
    folder.mkdir(exist_ok=True)
    specs = []
    for i in range(1, disks + 1):
        size = 64 >> (i - 1)
        stream_vmdk(folder, f"disk{i}.vmdk", f"{size}M", pattern=0xA0 + i)
        specs.append(Disk(f"disk{i}.vmdk", size << 20))
    (folder / "vm.ovf").write_text(ovf_text(folder, specs))
    names = ["vm.ovf", *(d.file for d in specs)]
    if with_manifest:
        (folder / "vm.mf").write_text(manifest(folder, names))
        names.insert(1, "vm.mf")
    return folder / "vm.ovf", names


def pack(folder: Path, names: Sequence[str], ova: Path) -> Path:
    """The real `tar`, as an OVA is made: ustar, descriptor first."""
    subprocess.run(["tar", "--format=ustar", "-cf", str(ova), "-C", str(folder), *names], check=True)
    return ova


def ova_with_a_qcow2_behind_vmdk(tmp_path: Path, safe_first: bool = False) -> Path:
    """vm.ova whose last disk is a qcow2 where its OVF promises a streamOptimized VMDK (after a
    good VMDK, with `safe_first`)."""
    src = tmp_path / "src"
    src.mkdir()
    names = []
    if safe_first:
        stream_vmdk(src, "disk1.vmdk", "16M")
        names.append("disk1.vmdk")
    names.append(f"disk{len(names) + 1}.vmdk")
    create(src / names[-1], "qcow2", "16M")
    (src / "vm.ovf").write_text(ovf_text(src, [Disk(n, 16 << 20) for n in names]))
    return pack(src, ["vm.ovf", *names], tmp_path / "vm.ova")


def make_ova(tmp_path: Path, disks: int = 1) -> Path:
    _, names = appliance_folder(tmp_path / "src", disks)
    return pack(tmp_path / "src", names, tmp_path / "vm.ova")


class WatchedQemuImg(QemuImg):
    """The real runner; it also remembers every command line it ran."""

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[Sequence[str]] = []

    def run(self, args: Sequence[str], limits: Limits | None = None) -> Completed:
        self.ran.append(list(args))
        return super().run(args, limits)


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


# -- hostile tars, byte by byte ----------------------------------------------------------------


def tar_header(name: bytes, size: int, typeflag: bytes = b"0", linkname: bytes = b"") -> bytes:
    """One ustar header block."""
    h = bytearray(512)
    h[0:100] = name[:100].ljust(100, b"\0")
    h[100:108] = b"0000644\0"
    h[108:116] = h[116:124] = b"0000000\0"
    h[124:136] = f"{size:011o}\0".encode()
    h[136:148] = b"00000000000\0"
    h[148:156] = b" " * 8
    h[156:157] = typeflag
    h[157:257] = linkname[:100].ljust(100, b"\0")
    h[257:265] = b"ustar\x0000"
    h[329:337] = h[337:345] = b"0000000\0"  # device major and minor
    h[148:156] = f"{sum(h):06o}\0 ".encode()
    return bytes(h)


def tar_bytes(members: Sequence[tuple[bytes, bytes, bytes, bytes]]) -> bytes:
    """(name, data, typeflag, linkname) each, then the two zero blocks that end a tar."""
    out = bytearray()
    for name, data, typeflag, linkname in members:
        out += tar_header(name, len(data), typeflag, linkname) + data + b"\0" * (-len(data) % 512)
    return bytes(out + b"\0" * 1024)


def regular(name: str, data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    return name.encode(), data, b"0", b""
