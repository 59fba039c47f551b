"""The suite's output: a table on the terminal and, for a full run only, the JSON in
benchmarks/results and the Markdown between the markers in docs/performance.md."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Row

START, END = "<!-- results:start -->", "<!-- results:end -->"


def machine(conditions: dict[str, str]) -> dict[str, str]:
    qemu = subprocess.run(["qemu-img", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    fs = subprocess.run(["df", "-T", "."], capture_output=True, text=True).stdout.splitlines()[-1].split()[1]
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 30)
    return {
        "cores": str(os.cpu_count()),
        "memory": f"{memory} GiB",
        "filesystem": fs,
        "qemu-img": qemu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        **conditions,
    }


def _fmt(xs: list[float], unit: str) -> str:
    if not xs:
        return ""
    median = statistics.median(xs)
    if unit == "s":
        return f"{median:.3f} s ({min(xs):.3f} to {max(xs):.3f})"
    return f"{median:.1f} {unit} ({min(xs):.1f} to {max(xs):.1f})"


def _result(row: Row) -> str:
    if row.target.kind == "gap" and row.gap is not None:
        return f"{row.ratio:.2f} (A - B - start-up = {row.gap * 1000:.0f} ms)"
    return f"{row.ratio:.2f}" if row.ratio is not None else ""


def _runs(row: Row) -> str:
    runs = str(len(row.a))
    if row.reruns:
        runs += f", re-run {row.reruns}x"
    if row.out_of_time:
        runs += ", not re-run (time budget)"
    return runs + (", **noisy**" if row.noisy else "")


def table(rows: list[Row]) -> str:
    lines = ["| row | A (ours) | B (baseline) | A median (min to max) | B median (min to max) | A/B | target | met | runs |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        if r.skipped:
            lines.append(f"| {r.name} | {r.a_label} | {r.b_label or ''} | skipped: {r.skipped} | | | "
                         f"{r.target.text} | | |")  # fmt: skip
            continue
        met = {True: "yes", False: "**no**", None: ""}[r.met]
        lines.append(f"| {r.name} | {r.a_label} | {r.b_label or ''} | {_fmt(r.a, r.unit)} | "
                     f"{_fmt(r.b, r.unit)} | {_result(r)} | {r.target.text} | {met} | {_runs(r)} |")  # fmt: skip
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    """The lines under the table: which rows stayed noisy, which missed their target."""
    noisy = [r.name for r in rows if r.noisy]
    missed = [r.name for r in rows if r.met is False]
    skipped = [r.name for r in rows if r.skipped]
    return "\n".join([
        "Rows that stayed noisy (max over twice min, after any re-runs): " + (", ".join(noisy) or "none") + ".",
        "Rows that miss their target: " + (", ".join(missed) or "none") + ".",
        *(["Rows skipped: " + ", ".join(skipped) + "."] if skipped else []),
    ])  # fmt: skip


def write(rows: list[Row], info: dict[str, str], root: Path) -> None:
    """Write a full run's results; a quick run never calls this."""
    results = root / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(
        {"machine": info, "rows": [r.to_json() for r in rows]}, indent=2) + "\n")  # fmt: skip
    notes = sorted({n for r in rows for n in r.notes})
    body = [
        START,
        "Run: `python -m benchmarks`. Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()) + ".",
        "",
        table(rows),
        "",
        summary(rows),
        "",
        "How each row's data was made:",
        "",
        *[f"- **{r.name}**: {r.data}." for r in rows],
        "",
        "Durability of each measured command:",
        "",
        *[f"- {n}." for n in notes],
        END,
    ]
    doc = root / "docs" / "performance.md"
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{START}\n{END}\n"
    text = re.sub(f"{START}.*?{END}", lambda _m: "\n".join(body), text, flags=re.S)
    doc.write_text(text)
