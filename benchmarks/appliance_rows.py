"""Appliance rows: an OVA converted in place from its tar member, against unpacking it first;
durable on both sides."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from benchmarks.data import sparse_raw
from benchmarks.group import Command, RowSpec, measure_group
from benchmarks.harness import Row, Runs, Target
from benchmarks.paths import DISKSCOPE, MiB, size_name

_OVF = """<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
 <References><File ovf:id="f1" ovf:href="disk1.vmdk" ovf:size="{size}"/></References>
 <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="{capacity}"
  ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/></DiskSection>
 <VirtualSystem ovf:id="vm"><Name>vm</Name></VirtualSystem>
</Envelope>
"""


def _ova(work: Path, inputs: Path, virtual: int, data: int) -> Path:
    """An OVA (ustar) holding an OVF and one streamOptimized VMDK."""
    raw = sparse_raw(work / "disk.raw", virtual, data)
    vmdk = work / "disk1.vmdk"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
                    str(raw), str(vmdk)], check=True)  # fmt: skip
    raw.unlink()
    (work / "vm.ovf").write_text(_OVF.format(size=vmdk.stat().st_size, capacity=virtual))
    ova = inputs / "vm.ova"
    subprocess.run(
        ["tar", "--format=ustar", "-cf", str(ova), "-C", str(work), "vm.ovf", "disk1.vmdk"], check=True
    )
    vmdk.unlink()
    return ova


def _our_flags(ova: Path, outputs: Path, unpacked: Path, result: Path) -> list[str]:
    """The qemu-img command diskscope runs for the OVA, reading the unpacked copy instead."""
    from diskscope.core.appliance.appliance import inspect_appliance
    from diskscope.core.appliance.convert import plan_appliance
    from diskscope.core.convert.request import ConvertRequest
    from diskscope.core.qemu.commands import image_reference
    from diskscope.core.qemu.qemu_img import QemuImg

    qemu = QemuImg()
    (plan,) = plan_appliance(inspect_appliance(ova, qemu), ConvertRequest(ova, outputs, "qcow2"), qemu)
    argv = [str(arg) for arg in qemu.command(qemu.convert_args(plan.plan.spec))]
    argv[-2:] = [image_reference(unpacked / "disk1.vmdk", "vmdk"), str(result)]
    return argv


def appliance_rows(work: Path, inputs: Path, virtual: int, data: int, runs: Runs) -> list[Row]:
    ova = _ova(work, inputs, virtual, data)
    outputs = work / "out"
    outputs.mkdir()
    unpacked, result = outputs / "unpacked", outputs / "disk1.qcow2"
    q = {p: shlex.quote(str(p)) for p in (ova, outputs, unpacked, result)}
    untar = f"mkdir {q[unpacked]} && tar -xf {q[ova]} -C {q[unpacked]} disk1.vmdk"
    done = f"rm -r {q[unpacked]} && sync {q[result]} {q[outputs]}"
    naive = shlex.join(
        ["qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", str(unpacked / "disk1.vmdk"), str(result)]
    )
    same = shlex.join(_our_flags(ova, outputs, unpacked, result))
    commands = [
        Command("ours", "diskscope convert vm.ova DIR -O qcow2 --no-verify (in place, no copy)",
                [DISKSCOPE, "convert", str(ova), str(outputs), "-O", "qcow2", "-q", "--no-verify"], result),
        Command("unpack", "tar -x, then qemu-img convert, then sync", f"{untar} && {naive} && {done}", result),
        Command("unpack-flags", "tar -x, then qemu-img convert with our flags, then sync",
                f"{untar} && {same} && {done}", result),
    ]  # fmt: skip
    made = (f"OVA (ustar) with one streamOptimized VMDK of {size_name(virtual)} virtual, {data // MiB} MiB "
            f"of random data; {ova.stat().st_size // MiB} MiB archive")  # fmt: skip
    specs = [
        RowSpec(f"OVA convert {size_name(virtual, data)}", "ours", "unpack", Target("<= 1.00", "ratio", 1.0), made),
        RowSpec(f"OVA convert, same flags {size_name(virtual, data)}", "ours", "unpack-flags",
                Target("<= 1.00", "ratio", 1.0), made),
    ]  # fmt: skip
    return measure_group(commands, specs, outputs, runs)
