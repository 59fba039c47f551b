"""Named conversion targets that admins ask for, each with a one-line why."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024 * 1024


@dataclass(frozen=True)
class Preset:
    name: str
    target: str
    why: str
    subformat: str | None = None
    options: tuple[str, ...] = ()
    round_to: int | None = None  # virtual size rounded up to a multiple of this


PRESETS = {
    p.name: p
    for p in (
        Preset(
            "openstack-raw", "raw",
            "Raw boots with no conversion on the compute host (Nova's force_raw_images).",
        ),
        Preset(
            "openstack-qcow2", "qcow2",
            "qcow2 v3: thin, copy-on-write, what Glance and Nova handle natively.",
            options=("compat=1.1",),
        ),
        Preset(
            "esxi", "vmdk",
            "A streamOptimized VMDK is what ESXi and vCenter import (OVF/OVA), compressed.",
            subformat="streamOptimized", options=("adapter_type=lsilogic",),
        ),
        Preset(
            "vmware-workstation", "vmdk",
            "A single growable VMDK that Workstation and Fusion open directly.",
            subformat="monolithicSparse", options=("adapter_type=lsilogic",),
        ),
        Preset(
            "hyperv", "vhdx",
            "A dynamic VHDX: Hyper-V's native disk (generation 2 VMs).",
            subformat="dynamic",
        ),
        Preset(
            "azure", "vpc",
            "Azure accepts only a fixed VHD whose size is a whole number of MiB.",
            subformat="fixed", round_to=MiB,
        ),
        Preset("virtualbox", "vdi", "VDI: VirtualBox's native disk format."),
    )
}  # fmt: skip
