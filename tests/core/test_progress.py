"""ProgressMeter on its own clock: reports are rate-limited, never go backwards, and the end
is always reported (the window and the CLI show only what it reports)."""

from __future__ import annotations

import itertools

from diskscope.core.progress import Progress, ProgressMeter


class SteppedClock:
    """Time that moves only when the test says: the throttle is checked without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_reports_are_limited_to_one_per_interval() -> None:
    clock, seen = SteppedClock(), []
    meter = ProgressMeter("converting", 10_000, seen.append, interval=0.1, clock=clock)
    for done in range(1, 10_001):  # one update a millisecond for ten seconds
        clock.now += 0.001
        meter.update(done)
    assert 95 <= len(seen) <= 101
    assert all(b.done > a.done for a, b in itertools.pairwise(seen))


def test_forced_report_and_positions_that_go_back() -> None:
    clock, seen = SteppedClock(), []
    meter = ProgressMeter("converting", 100, seen.append, clock=clock)
    meter.update(50)
    meter.update(60)  # within the interval: not reported
    meter.update(40, force=True)  # forced, and never backwards
    assert [p.done for p in seen] == [50, 60]
    clock.now += 2.0
    meter.update(100)
    assert seen[-1] == Progress("converting", 100, 100, seen[-1].rate, 0.0)
    assert seen[-1].rate == (100 - 50) / 2.0 and seen[-1].fraction == 1.0
