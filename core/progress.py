"""Progress of a long job: bytes done, rate and ETA, reported about ten times a second."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    phase: str
    done: int
    total: int | None  # None: unknown, show a busy indicator
    rate: float | None  # bytes per second
    eta: float | None  # seconds

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


ProgressCallback = Callable[[Progress], None]


class ProgressMeter:
    """Turns raw positions into throttled, monotonic `Progress` reports."""

    def __init__(
        self,
        phase: str,
        total: int | None,
        callback: ProgressCallback | None,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.phase, self.total, self._callback = phase, total, callback
        self._interval, self._clock = interval, clock
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = float("-inf")
        self.done = 0

    def update(self, done: int, *, force: bool = False) -> None:
        done = max(done, self.done)  # never backwards
        self.done = done
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > 3.0:
            self._samples.popleft()
        if self._callback is None or (not force and now - self._last_report < self._interval):
            return
        self._last_report = now
        self._callback(self.snapshot())

    def snapshot(self) -> Progress:
        rate = eta = None
        if len(self._samples) >= 2:
            (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
            if t1 > t0:
                rate = (d1 - d0) / (t1 - t0)
        if rate and self.total:
            eta = max(0.0, (self.total - self.done) / rate)
        return Progress(self.phase, self.done, self.total, rate, eta)


def format_duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def format_progress(p: Progress, width: int = 24) -> str:
    """One terminal line: bar, percentage, bytes, rate and ETA."""
    from .sizes import human_size

    fraction = p.fraction
    if fraction is None:
        bar, percent = "?" * width, "  ?%"
    else:
        filled = int(width * fraction)
        bar, percent = "#" * filled + "." * (width - filled), f"{fraction * 100:3.0f}%"
    total = f" of {human_size(p.total)}" if p.total else ""
    rate = f"  {human_size(int(p.rate))}/s" if p.rate else ""
    eta = f"  ETA {format_duration(p.eta)}" if p.eta is not None and p.rate else ""
    return f"{p.phase:<16} [{bar}] {percent}  {human_size(p.done)}{total}{rate}{eta}"
