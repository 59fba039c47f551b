"""Timing side by side: every command of a group runs once a round, after the same reset, in
an order that rotates from round to round; rows are medians, spreads and targets."""

from __future__ import annotations

import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

NOISY = 2.0  # a side whose max is over twice its min is noisy


class BenchmarkFailed(RuntimeError):
    """A measured command failed: the run stops rather than report a number for it."""


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_rss: int  # bytes: the largest resident set of the command or any process it ran


def run_command(argv: Sequence[str] | str) -> Sample:
    """Run one command (a str is a shell line) to completion; its time and peak memory."""
    with tempfile.TemporaryFile() as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, shell=isinstance(argv, str), stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-800:]
            shown = argv if isinstance(argv, str) else shlex.join(argv)
            raise BenchmarkFailed(f"exit {proc.returncode}: {shown}\n{tail}")
    return Sample(elapsed, usage.ru_maxrss * 1024)


@dataclass(frozen=True)
class Target:
    """The issue's goal for a row. `kind`: "ratio" (A/B at most `limit`), "under" (A's median
    below `limit` in the row's unit), "gap" (A - B - the row's allowance below `limit` seconds),
    or "report" (no goal: the figure is shown for what it tells)."""

    text: str
    kind: str = "report"
    limit: float = 0.0


@dataclass
class Row:
    name: str
    a_label: str
    b_label: str | None
    target: Target
    data: str  # how the data was made
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    unit: str = "s"
    notes: list[str] = field(default_factory=list)
    allowance: float = 0.0  # for a "gap" target: what A may spend beyond B (Python's start-up)
    reruns: int = 0
    earlier: list[dict[str, float | None]] = field(default_factory=list)  # medians of re-run attempts
    skipped: str = ""  # why the row has no figures
    out_of_time: bool = False  # noisy, and not run again: the run's time budget was spent

    @property
    def ratio(self) -> float | None:
        if not self.a or not self.b or statistics.median(self.b) == 0:
            return None
        return statistics.median(self.a) / statistics.median(self.b)

    @property
    def gap(self) -> float | None:
        """A's median minus B's minus the allowance (seconds)."""
        if not self.a or not self.b:
            return None
        return statistics.median(self.a) - statistics.median(self.b) - self.allowance

    @property
    def noisy(self) -> bool:
        return any(xs and max(xs) > NOISY * min(xs) for xs in (self.a, self.b))

    @property
    def met(self) -> bool | None:
        """Whether the median meets the target; None without a target or figures."""
        kind, limit = self.target.kind, self.target.limit
        if kind == "ratio" and self.ratio is not None:
            return self.ratio <= limit
        if kind == "under" and self.a:
            return statistics.median(self.a) < limit
        if kind == "gap" and self.gap is not None:
            return self.gap < limit
        return None

    def to_json(self) -> dict[str, object]:
        def stats(xs: list[float]) -> dict[str, float] | None:
            return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)} if xs else None

        return {
            "name": self.name, "a": self.a_label, "b": self.b_label, "target": self.target.text,
            "data": self.data, "unit": self.unit, "a_stats": stats(self.a), "b_stats": stats(self.b),
            "a_samples": self.a, "b_samples": self.b, "ratio": self.ratio, "met": self.met,
            "noisy": self.noisy, "reruns": self.reruns, "earlier_attempts": self.earlier,
            "notes": self.notes, "skipped": self.skipped, "out_of_time": self.out_of_time,
        }  # fmt: skip


def rounds_of(
    commands: Mapping[str, Callable[[], Sample]], rounds: int, reset: Callable[[str | None], None]
) -> dict[str, list[Sample]]:
    """`rounds` rounds of every command, each after `reset(its key)`; the first command of a
    round rotates, so no command always runs first (or right after a given other)."""
    keys = list(commands)
    samples: dict[str, list[Sample]] = {key: [] for key in keys}
    for i in range(rounds):
        shift = i % len(keys)
        for key in keys[shift:] + keys[:shift]:
            reset(key)
            samples[key].append(commands[key]())
    reset(None)
    return samples


@dataclass(frozen=True)
class Runs:
    rounds: int
    reruns: int  # at most this many more attempts while a row is noisy
    drop: bool = False  # drop the page cache before each timed run (as root; not in a quick run)
    deadline: float = math.inf  # time.monotonic() after which no noisy row is run again


def with_reruns(attempt: Callable[[], list[Row]], runs: Runs) -> list[Row]:
    """Run `attempt` until none of its rows is noisy, at most `runs.reruns` more times, and
    not past the deadline. The last attempt's figures are kept (never the best-looking one);
    earlier medians stay in the JSON."""
    earlier: dict[str, list[dict[str, float | None]]] = {}
    for done in range(runs.reruns + 1):
        started = time.monotonic()
        rows = attempt()
        noisy = [r.name for r in rows if r.noisy]
        if not noisy or done == runs.reruns:
            break
        if time.monotonic() + (time.monotonic() - started) > runs.deadline:
            print(f"  noisy, not run again (time budget): {', '.join(noisy)}", file=sys.stderr, flush=True)
            for r in rows:
                r.out_of_time = r.noisy
            break
        print(f"  noisy, running again: {', '.join(noisy)}", file=sys.stderr, flush=True)
        for r in rows:
            earlier.setdefault(r.name, []).append({
                "a_median": statistics.median(r.a) if r.a else None,
                "b_median": statistics.median(r.b) if r.b else None,
            })  # fmt: skip
    for r in rows:
        r.reruns = done
        r.earlier = earlier.get(r.name, [])
    return rows


def python_startup(rounds: int = 10) -> float:
    """Median wall time of this interpreter doing nothing: the part of our constant that the
    wrapper cannot remove."""
    return statistics.median(run_command([sys.executable, "-c", "pass"]).seconds for _ in range(rounds))


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize
