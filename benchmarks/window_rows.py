"""Window rows, offscreen: first paint, the UI's longest stall under load, a big table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Row, Runs, Target, run_command, with_reruns
from benchmarks.paths import GUI, HERE


def _script(script: str, work: Path, data: int) -> float:
    done = subprocess.run([sys.executable, str(HERE / script), str(work), str(data)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})  # fmt: skip
    return float(done.stdout.strip().splitlines()[-1])


def window_rows(work: Path, data: int, runs: Runs) -> list[Row]:
    rounds = runs.rounds
    image = work / "window.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), "1G"], check=True)
    shot = [GUI, "--screenshot", str(work / "window.png"), str(image)]
    run_command(shot)  # warm-up

    def first_paint() -> list[Row]:
        row = Row("window first paint", "diskscope-gui --screenshot with one image (offscreen)", None,
                  Target("<= 0.5 s", "under", 0.5), "one empty qcow2; start to a rendered PNG")  # fmt: skip
        row.a = [run_command(shot).seconds for _ in range(rounds)]
        return [row]

    def script_row(script: str, name: str, target: Target, made: str) -> list[Row]:
        row = Row(name, "the window (offscreen)", None, target, made, unit="ms")
        row.a = [_script(script, work, data) for _ in range(max(2, rounds // 2 + 1))]
        return [row]

    return [
        *with_reruns(first_paint, runs),
        *with_reruns(lambda: script_row("ui_stall.py", "UI stall, a conversion and a download running",
                                        Target("< 50 ms", "under", 50),
                                        "longest gap of a 10 ms timer while a convert and a download run"),
                     runs),
        *with_reruns(lambda: script_row("snapshot_table.py", "10 000 snapshot rows",
                                        Target("< 50 ms", "under", 50),
                                        "10 000 snapshots: parse, load the model, sort by size"), runs),
    ]  # fmt: skip
