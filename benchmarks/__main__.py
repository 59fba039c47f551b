"""`python -m benchmarks [--quick]`: run every row, print the table; a full run also writes
benchmarks/results/latest.json and the table in docs/performance.md."""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.appliance_rows import appliance_rows
from benchmarks.convert_rows import convert_rows
from benchmarks.data import input_folder
from benchmarks.download_rows import download_rows, fetch_to_raw_rows
from benchmarks.durable import can_drop_caches
from benchmarks.harness import Row, Runs, Target, free_bytes, python_startup
from benchmarks.inspect_rows import inspect_rows
from benchmarks.packed_rows import packed_rows
from benchmarks.paths import GiB, MiB, size_name
from benchmarks.report import machine, summary, table, write
from benchmarks.upload_rows import upload_rows
from benchmarks.window_rows import window_rows

ROOT = Path(__file__).resolve().parents[1]
GROUPS = ("convert", "appliance", "download", "fetch", "packed", "upload", "inspect", "window")


@dataclass(frozen=True)
class Speeds:
    """This machine's durable write and sha512 rates (bytes a second), for the estimate."""

    write: float
    sha512: float

    @classmethod
    def probe(cls, folder: Path, size: int) -> Speeds:
        block = os.urandom(MiB)
        path = folder / "speed.probe"
        started = time.perf_counter()
        with open(path, "wb") as f:
            for _ in range(size // MiB):
                f.write(block)
            f.flush()
            os.fsync(f.fileno())
        write = size / (time.perf_counter() - started)
        path.unlink()
        started = time.perf_counter()
        digest = hashlib.sha512()
        for _ in range(64):
            digest.update(block)
        return cls(write, 64 * MiB / (time.perf_counter() - started))


@dataclass(frozen=True)
class Group:
    """Rows measured together: their data, their disk needs, and a rough time estimate."""

    name: str  # what --only selects: convert, download, fetch, inspect, window
    title: str
    needs: int  # bytes free in the work folder
    inputs: int  # bytes of inputs (in RAM when there is room)
    estimate: Callable[[Speeds], float]  # seconds for one attempt
    run: Callable[[Path, Path, float], list[Row]]  # (folder, inputs folder, Python's start-up) -> rows
    skipped_rows: tuple[tuple[str, str], ...] = ()  # (name, target) shown when skipped


def plan(quick: bool, deadline: float) -> tuple[list[Group], int]:
    """The groups of a full run (or the small quick one) and how often a noisy row re-runs.
    Estimates are per attempt, from this machine's disk and sha512 rates; the per-round
    factors are what a loaded 2-core machine measured (verification and the naive, page-cache
    conversion each cost several times a durable write), so a quiet machine beats them."""
    if quick:
        converts = [(256 * MiB, 64 * MiB, 2, True)]  # one of each kind of row: every path, quickly
        downloads = [(64 * MiB, 2, True, True)]
        fetch, folder, rounds, reruns = (256 * MiB, 64 * MiB, 2), 40, 2, 0  # CI: about a minute
    else:
        converts = [(4 * GiB, 1 * GiB, 5, False), (20 * GiB, 4 * GiB, 3, True)]
        downloads = [(1536 * MiB, 5, True, False), (4 * GiB, 3, False, True)]
        fetch, folder, rounds, reruns = (4 * GiB, 1 * GiB, 3), 500, 5, 2
    drop = not quick and can_drop_caches()  # a quick run's figures mean nothing: spare it the drops

    def runs(n: int) -> Runs:
        return Runs(n, reruns, drop, deadline)

    def convert(virtual: int, data: int, n: int, memory: bool) -> Group:
        name = f"convert {size_name(virtual, data)}"
        return Group(
            "convert", name, 2 * data + GiB, data,
            lambda s: 3 * data / s.write + (n + 1) * (15 * data / s.write + 3),
            lambda w, i, up: convert_rows(w, i, virtual, data, runs(n), up, memory),
            ((name, "<= 1.00"),),
        )  # fmt: skip

    def download(size: int, n: int, verify: bool, memory: bool) -> Group:
        name = f"download {size_name(size)}"
        return Group(
            "download", name, size + GiB, size,
            lambda s: (n + 1) * ((1 + verify) * size / s.sha512 + (2 + verify) * 2 * size / s.write + 2),
            lambda w, i, _up: download_rows(w, i, size, runs(n), verify, memory),
            ((f"{name}, sha512 in the same pass", "<= 1.10"),),
        )  # fmt: skip

    def appliance(virtual: int, data: int, n: int) -> Group:
        return Group(
            "appliance", f"OVA convert {size_name(virtual, data)}", 2 * data + GiB, data,
            lambda s: 3 * data / s.write + (n + 1) * (8 * data / s.write + 3),
            lambda w, i, _up: appliance_rows(w, i, virtual, data, runs(n)),
            ((f"OVA convert {size_name(virtual, data)}", "<= 1.00"),),
        )  # fmt: skip

    groups = (
        [convert(*c) for c in converts] + [appliance(*converts[0][:3])] + [download(*d) for d in downloads]
    )
    virtual, data, n = fetch
    groups.append(Group(
        "fetch", f"fetch to raw {size_name(virtual, data)}", virtual + data + GiB, 2 * data,
        lambda s: (n + 1) * ((virtual + data) / s.sha512 + 2 * virtual / s.write + 12 * data / s.write + 4),
        lambda w, i, _up: fetch_to_raw_rows(w, i, virtual, data, runs(n)),
        ((f"fetch to raw {size_name(virtual, data)}", "<= 1.00"),),
    ))  # fmt: skip
    packed_virtual = virtual // 4  # 1 GiB raw (64 MiB quick), a quarter of it data
    groups.append(Group(
        "packed", f"fetch .raw.xz {size_name(packed_virtual, packed_virtual // 4)}", 2 * packed_virtual + GiB,
        packed_virtual // 4,
        lambda s: (n + 1) * (packed_virtual / s.write + packed_virtual / (40 * MiB) + 3),
        lambda w, i, _up: packed_rows(w, i, packed_virtual, packed_virtual // 4, runs(n)),
    ))  # fmt: skip
    upload = downloads[0][0]  # 1.5 GiB in a full run
    groups.append(Group(
        "upload", f"upload {size_name(upload)}", 2 * upload + GiB, 0,
        lambda s: (rounds + 1) * 3 * (upload / s.write + upload / s.sha512 + 3) + 20,
        lambda w, _i, _up: upload_rows(w, upload, runs(max(2, rounds - 2))),
        ((f"upload {size_name(upload)} (put)", "<= 1.15"),),
    ))  # fmt: skip
    groups.append(Group("inspect", f"inspect {folder} images", GiB, 0, lambda _s: (rounds + 1) * folder * 0.015,
                        lambda w, _i, _up: inspect_rows(w, folder, runs(rounds))))  # fmt: skip
    window_data = fetch[1] // 4
    groups.append(Group(
        "window", "window", 2 * window_data + GiB, 0,
        lambda s: rounds * 1.0 + (rounds // 2 + 1) * (5 * window_data / s.write + 4),
        lambda w, _i, _up: window_rows(w, window_data, runs(rounds)),
    ))  # fmt: skip
    return groups, reruns


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the data on `kill`
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true",
                        help="small data, about a minute; what CI runs; writes no report")  # fmt: skip
    parser.add_argument("--only", action="append", default=[], choices=GROUPS,
                        help="run only this group (repeat for more)")  # fmt: skip
    parser.add_argument("--workdir", type=Path, help="where to make the data (default: a temp folder)")
    parser.add_argument("--report-dir", type=Path, default=ROOT,
                        help="where a full run writes benchmarks/results and docs/performance.md (default: here)")  # fmt: skip
    parser.add_argument("--budget", type=float, default=25, metavar="MINUTES",
                        help="no noisy row is run again once its re-run would end past this (default 25)")  # fmt: skip
    args = parser.parse_args()
    groups, reruns = plan(args.quick, time.monotonic() + args.budget * 60)
    groups = [g for g in groups if not args.only or g.name in args.only]
    work = Path(tempfile.mkdtemp(prefix="diskscope-bench-", dir=args.workdir))
    rows: list[Row] = []
    try:
        speeds = Speeds.probe(work, (16 if args.quick else 256) * MiB)
        estimate = sum(g.estimate(speeds) for g in groups)
        again = f"more if noisy groups re-run (up to {reruns}x, within --budget {args.budget:g} min)"
        say(f"estimate: about {estimate / 60:.0f} min, {again if reruns else 'no re-runs'}; disk "
            f"{speeds.write / MiB:.0f} MiB/s durable, sha512 {speeds.sha512 / MiB:.0f} MiB/s")  # fmt: skip
        if not args.quick and not can_drop_caches():
            say("not root: the page cache cannot be dropped before each run")
        startup = python_startup()
        began = time.monotonic()
        for group in groups:
            rows += run_group(group, work, startup, speeds)
        took = (time.monotonic() - began) / 60
        say(f"done in {took:.1f} min (estimate {estimate / 60:.0f} min)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(table(rows))
    print()
    print(summary(rows))
    if args.quick:
        say("quick run: docs/performance.md and benchmarks/results are left as they are")
        return 0
    conditions = {
        "page cache": "dropped before each timed run" if can_drop_caches() else "NOT dropped (not root)",
        "Python start-up": f"{startup * 1000:.0f} ms",
        "run time": f"{took:.0f} min",
    }
    write(rows, machine(conditions), args.report_dir)
    return 0


def run_group(group: Group, work: Path, startup: float, speeds: Speeds) -> list[Row]:
    folder = work / f"{group.name}-{len(list(work.iterdir()))}"
    folder.mkdir()
    free = free_bytes(folder)
    if free < group.needs:
        why = f"needs {group.needs / GiB:.1f} GiB free, {free / GiB:.1f} GiB here"
        say(f"skipping {group.title}: {why}")
        return [Row(name, "", None, Target(target), "", skipped=why) for name, target in group.skipped_rows]
    say(f"running {group.title} (about {group.estimate(speeds) / 60:.1f} min) …")
    started = time.monotonic()
    inputs = input_folder(folder, group.inputs)
    try:
        return group.run(folder, inputs, startup)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)
        say(f"  {group.title}: {time.monotonic() - started:.0f} s")


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
