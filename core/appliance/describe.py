"""Readable text for an appliance: its hardware (the window shows the same rows), then for
`diskscope info`, each disk's report."""

from __future__ import annotations

from ..report.terminal import format_report
from ..sizes import size_with_exact
from ..text import printable
from .appliance import ApplianceDisk, ApplianceReport


def hardware_rows(report: ApplianceReport) -> list[tuple[str, str]]:
    """(label, value) for the appliance, each system's hardware, its manifest and signature."""
    rows = [("appliance", f"{report.kind.upper()} ({report.descriptor})")]
    for system in report.systems:
        rows += [
            ("system", system.name or "(unnamed)"),
            ("CPUs", str(system.cpus) if system.cpus is not None else "not stated"),
            ("memory", size_with_exact(system.memory) if system.memory is not None else "not stated"),
            ("firmware", system.firmware or "not stated (BIOS, as hypervisors assume)"),
            ("controllers", ", ".join(system.controllers) or "none"),
            ("network", ", ".join(system.nics) or "none"),
        ]
    rows.append(
        ("manifest", report.manifest.sentence() if report.manifest else "none: nothing vouches for the files")
    )
    rows.append(("signature", report.certificate.sentence() if report.certificate else "none: not signed"))
    return rows


def _row(label: str, value: object) -> str:
    return f"  {label:<14}{printable(str(value))}"


def format_appliance(report: ApplianceReport) -> str:
    lines = [printable(str(report.path))]
    lines += [_row(label, value) for label, value in hardware_rows(report)]
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
