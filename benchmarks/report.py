"""The suite's output: a table on the terminal, JSON, and the Markdown in docs/performance.md."""

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


def machine() -> dict[str, str]:
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
    }


def _fmt(xs: list[float], unit: str) -> str:
    if not xs:
        return ""
    median = statistics.median(xs)
    if unit == "s":
        return f"{median:.3f} s ({min(xs):.3f} to {max(xs):.3f})"
    return f"{median:.1f} {unit} ({min(xs):.1f} to {max(xs):.1f})"


def table(rows: list[Row]) -> str:
    lines = ["| what | A (ours) | B | A median (min to max) | B median (min to max) | ratio A/B | target |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        lines.append(f"| {r.name} | {r.a_label} | {r.b_label or ''} | {_fmt(r.a, r.unit)} | "
                     f"{_fmt(r.b, r.unit)} | {ratio} | {r.target} |")  # fmt: skip
    return "\n".join(lines)


def write(rows: list[Row], quick: bool, root: Path) -> None:
    info = machine()
    results = root / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "latest.json").write_text(json.dumps(
        {"quick": quick, "machine": info, "rows": [r.to_json() for r in rows]}, indent=2) + "\n")  # fmt: skip
    body = [
        START,
        f"Run: `python -m benchmarks{' --quick' if quick else ''}`. Machine: "
        + ", ".join(f"{k} {v}" for k, v in info.items())
        + ".",
        "",
        table(rows),
        "",
        "How each row's data was made:",
        "",
        *[f"- **{r.name}**: {r.data}." + (f" {r.note}." if r.note else "") for r in rows],
        END,
    ]
    doc = root / "docs" / "performance.md"
    doc.parent.mkdir(parents=True, exist_ok=True)
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{START}\n{END}\n"
    text = re.sub(f"{START}.*?{END}", lambda _m: "\n".join(body), text, flags=re.S)
    doc.write_text(text)
