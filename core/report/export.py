"""An inspection as JSON or Markdown, for the window's Export and for scripts."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..sizes import human_size, size_with_exact
from .details import ImageDetails
from .terminal import allocation_totals


def details_to_json(details: ImageDetails) -> dict[str, Any]:
    data = details.report.to_json()
    data["backing_chain"] = [
        {
            "depth": layer.depth,
            "link": layer.link,
            "path": str(layer.path),
            "status": layer.status.value,
            "message": layer.message,
            "format": layer.format.value if layer.format else None,
        }
        for layer in details.chain
    ]
    data["allocation"] = allocation_totals(details.extents)
    data["commands"] = list(details.commands)
    return data


def details_to_markdown(details: ImageDetails) -> str:
    data = details.report.to_json()
    lines = [f"# {details.path.name}", "", f"`{details.path}`", ""]
    verdict = "**Safe to use**" if data["safe"] else "**Refused**"
    lines += [f"Verdict: {verdict}", ""]
    for v in details.report.violations:
        lines.append(f"- {v.message} _What to do:_ {v.advice}")
    if details.report.violations:
        lines.append("")
    lines += ["| Field | Value |", "|---|---|"]
    fields = [
        ("Format", data["format"] + (f" ({data['subformat']})" if data["subformat"] else "")),
        ("Virtual size", size_with_exact(data["virtual_size"])),
        ("Size on disk", size_with_exact(data["actual_size"])),
        ("Cluster size", size_with_exact(data["cluster_size"])),
        ("Encrypted", "yes" if data["encrypted"] else "no"),
        ("Dirty", "yes" if data["dirty"] else "no"),
        ("Backing file", data["backing_file"] or "none"),
        ("Data file", data["data_file"] or "none"),
    ]
    lines += [f"| {name} | {_cell(value)} |" for name, value in fields]
    if data["snapshots"]:
        lines += ["", "## Snapshots", "", "| ID | Name | VM state | Date | VM clock |"]
        lines.append("|---|---|---|---|---|")
        for s in data["snapshots"]:
            lines.append(
                f"| {_cell(s['id'])} | {_cell(s['name'])} | {human_size(s['vm_state_size'])} "
                f"| {s['date']} | {s['vm_clock']} |"
            )
    if details.chain:
        lines += ["", "## Backing chain", ""]
        for layer in details.chain:
            fmt = layer.format.value if layer.format else "?"
            note = f" — {layer.message}" if layer.message else ""
            lines.append(f"{layer.depth}. `{layer.path}` ({fmt}, {layer.status.value}){note}")
    if details.extents:
        totals = allocation_totals(details.extents)
        lines += ["", "## Allocation", ""]
        lines += [f"- {kind}: {size_with_exact(n)}" for kind, n in totals.items()]
    lines += ["", "## Commands", "", "```sh", *details.commands, "```", ""]
    return "\n".join(lines)


def export_text(path: str | os.PathLike[str], details: ImageDetails) -> str:
    """The export for `path`: JSON for a `.json` name, else Markdown."""
    if os.fspath(path).endswith(".json"):
        return json.dumps(details_to_json(details), indent=2, ensure_ascii=False) + "\n"
    return details_to_markdown(details)


def write_export(path: str | os.PathLike[str], details: ImageDetails) -> None:
    """Write the export to `path` (UTF-8); an OSError says why it could not."""
    Path(path).write_text(export_text(path, details), encoding="utf-8")


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")
