"""Timing pairs side by side: a warm-up, then rounds alternating A and B, medians and ratios."""

from __future__ import annotations

import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    name: str
    a_label: str
    b_label: str | None
    target: str
    data: str  # how the data was made
    a: list[float] = field(default_factory=list)
    b: list[float] = field(default_factory=list)
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.b or not self.a or statistics.median(self.b) == 0:
            return None
        return statistics.median(self.a) / statistics.median(self.b)

    def to_json(self) -> dict[str, object]:
        def stats(xs: list[float]) -> dict[str, float] | None:
            return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)} if xs else None

        return {
            "name": self.name, "a": self.a_label, "b": self.b_label, "target": self.target,
            "data": self.data, "unit": self.unit, "a_stats": stats(self.a), "b_stats": stats(self.b),
            "ratio": self.ratio, "note": self.note, "rounds": len(self.a),
        }  # fmt: skip


def run_command(argv: Sequence[str], *, shell: bool = False) -> float:
    """Wall time of one command; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(argv if not shell else argv[0], shell=shell, capture_output=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"benchmark command failed: {argv}: {done.stderr.decode()[-500:]}")
    return elapsed


def pair(
    row: Row,
    a: Callable[[], float],
    b: Callable[[], float] | None,
    rounds: int,
    reset: Callable[[], None] = lambda: None,
) -> Row:
    """One warm-up of each, then `rounds` rounds alternating which goes first."""
    reset()
    a()
    reset()
    if b is not None:
        b()
        reset()
    for i in range(rounds):
        order = [(row.a, a), (row.b, b)] if i % 2 == 0 else [(row.b, b), (row.a, a)]
        for sink, fn in order:
            if fn is not None:
                sink.append(fn())
                reset()
    return row
