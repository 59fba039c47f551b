"""Readable text for `diskscope info` of an appliance: its hardware, then each disk's report."""

from __future__ import annotations

from ..report.terminal import format_report
from ..sizes import size_with_exact
from ..text import printable
from .appliance import ApplianceDisk, ApplianceReport


def _row(label: str, value: object) -> str:
    return f"  {label:<14}{printable(str(value))}"


def format_appliance(report: ApplianceReport) -> str:
    lines = [printable(str(report.path)), _row("appliance", f"{report.kind.upper()} ({report.descriptor})")]
    for system in report.systems:
        lines += [
            _row("system", system.name or "(unnamed)"),
            _row("CPUs", system.cpus if system.cpus is not None else "not stated"),
            _row("memory", size_with_exact(system.memory) if system.memory is not None else "not stated"),
            _row("firmware", system.firmware or "not stated (BIOS, as hypervisors assume)"),
            _row("controllers", ", ".join(system.controllers) or "none"),
            _row("network", ", ".join(system.nics) or "none"),
        ]
    if report.manifest:
        lines.append(_row("manifest", report.manifest.sentence()))
    else:
        lines.append(_row("manifest", "none: nothing vouches for the files"))
    if report.certificate:
        lines.append(_row("signature", report.certificate.sentence()))
    else:
        lines.append(_row("signature", "none: the appliance is not signed"))
    for disk in report.disks:
        lines += _disk_lines(disk)
    lines.append(_row("verdict", "SAFE to hand to a hypervisor" if report.safe else "REFUSED"))
    return "\n".join(lines)


def _disk_lines(disk: ApplianceDisk) -> list[str]:
    where = f" on {disk.controller}" if disk.controller else ""
    head = f"  disk {disk.index}: {printable(disk.href or '(no file: starts out empty)')}{printable(where)}"
    lines = [head]
    if disk.capacity is not None:
        lines.append("  " + _row("capacity", size_with_exact(disk.capacity)))
    if disk.report is not None:
        body = format_report(disk.report).split("\n")[1:]  # its first line names the OVA again
        lines += ["  " + line for line in body]
    return lines
