"""Readable text for `diskscope info`, `check` and `map`: what a terminal shows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..qemu.results import CheckResult, MapExtent
from ..safety import ImageReport
from ..sizes import human_size, size_with_exact
from ..text import printable


def _row(label: str, value: object) -> str:
    """One labelled line; the value may come from the image, so it is made printable."""
    return f"  {label:<14}{printable(str(value))}"


def format_report(report: ImageReport) -> str:
    facts, ours = report.facts, report.inspection
    kind = ours.format.value + (f" ({ours.subformat})" if ours.subformat else "")
    lines = [printable(str(report.path))]
    if report.resolved:
        lines.append(_row("link to", printable(str(report.resolved))))
    lines += [_row("format", kind), _row("virtual size", size_with_exact(facts.virtual_size))]
    packed = report.packed
    if packed is None:
        lines.append(_row("on disk", size_with_exact(facts.size_on_disk)))
    else:
        lines.append(_row("compressed", f"{packed.packing.value}, {size_with_exact(packed.compressed_size)}"))
        inflated = packed.uncompressed_size
        lines.append(_row("uncompressed", size_with_exact(inflated) if inflated is not None
                          else f"not recorded by {packed.packing.value}"))  # fmt: skip
    if facts.cluster_size:
        lines.append(_row("cluster size", size_with_exact(facts.cluster_size)))
    lines.append(_row("encrypted", "yes" if facts.encrypted else "no"))
    if facts.dirty:
        lines.append(_row("dirty", "yes: not cleanly shut down"))
    if facts.backing_file:
        lines.append(_row("backing file", facts.backing_file))
    if facts.data_file:
        lines.append(_row("data file", facts.data_file))
    if report.info and report.info.snapshots:
        lines.append(_row("snapshots", len(report.info.snapshots)))
        for s in report.info.snapshots:
            when = datetime.fromtimestamp(s.date_sec).strftime("%Y-%m-%d %H:%M:%S")
            lines.append(f"    {printable(s.id):<4} {printable(s.name)}  {human_size(s.vm_state_size)}  "
                         f"{when}  {printable(s.vm_clock)}")  # fmt: skip
    if report.safe and packed is not None:
        lines.append(_row("verdict", f"SAFE by its headers (the first {human_size(packed.inflated)} "
                          "decompressed); qemu-img opens it only once it is decompressed"))  # fmt: skip
    elif report.safe:
        lines.append(_row("verdict", "SAFE to hand to a hypervisor"))
    else:
        lines.append(_row("verdict", "REFUSED"))
        for v in report.violations:
            lines.append(f"    - {printable(v.message)}")
            lines.append(f"      What to do: {v.advice}")
    for w in report.warnings:
        lines.append(_row("warning", printable(w.message)))
    return "\n".join(lines)


def format_check(path: str, result: CheckResult) -> str:
    lines = [printable(path), _row("status", result.status.value), _row("result", result.summary)]
    if result.total_clusters:
        lines.append(_row("clusters", f"{result.allocated_clusters or 0} of {result.total_clusters} used"))
    return "\n".join(lines)


def extent_kind(e: MapExtent) -> str:
    """data; zero (allocated, reads as zeros); or unallocated in every layer of the chain."""
    if e.data:
        return "data"
    if e.present:
        return "zero"
    return "unallocated"


def allocation_totals(extents: Sequence[MapExtent]) -> dict[str, int]:
    """Bytes of data, zeros and unallocated space over the mapped extents."""
    totals = {"data": 0, "zero": 0, "unallocated": 0}
    for e in extents:
        totals[extent_kind(e)] += e.length
    return totals


def format_map(extents: Sequence[MapExtent]) -> str:
    lines = [f"{'start':>18} {'length':>18}  {'kind':<12} layer"]
    for e in extents:
        layer = "" if not e.present else str(e.depth)
        lines.append(f"{e.start:>18} {e.length:>18}  {extent_kind(e):<12} {layer}")
    return "\n".join(lines)
