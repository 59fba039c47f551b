"""The window's one task runner: every task ends exactly once (succeeded, failed or
cancelled), one that raises and one cancelled before or while it runs included, and the
runner lets go of each thread only after it finished."""

from __future__ import annotations

import threading
from collections import Counter

from diskscope.core.errors import Cancelled, DiskscopeError
from diskscope.gui.workers import TaskRunner
from guikit import WAIT_MS
from PySide6.QtCore import QObject

GATE_WAIT = 60  # seconds; only to stop a hang


class Endings(QObject):
    """Records every ending, by task name, in the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[tuple[str, str]] = Counter()
        self.threads: set[int] = set()

    def callbacks(self, name: str) -> dict[str, object]:
        return {
            "on_success": lambda result: self._add(name, f"succeeded {result}"),
            "on_failure": lambda message: self._add(name, f"failed {message}"),
            "on_cancel": lambda: self._add(name, "cancelled"),
        }

    def _add(self, name: str, how: str) -> None:
        self.threads.add(threading.get_ident())
        self.seen[(name, how)] += 1

    def names(self) -> Counter[str]:
        return Counter(name for (name, _how), n in self.seen.items() for _ in range(n))


def _blocked_until(gate: threading.Event, stop: threading.Event) -> str:
    if not gate.wait(GATE_WAIT):
        raise AssertionError("never let go")
    if stop.is_set():
        raise Cancelled("stopped while running")
    return "let go"


def _raises() -> None:
    raise ValueError("a bug")


def _refuses() -> None:
    raise DiskscopeError("The image was refused.")


def test_each_task_ends_exactly_once(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner(limit=1)
    endings = Endings()
    gate, stop = threading.Event(), threading.Event()

    def halt() -> None:
        stop.set()
        gate.set()

    running = runner.submit(lambda: _blocked_until(gate, stop), **endings.callbacks("running"), stop=halt)  # type: ignore[arg-type]
    queued = runner.submit(lambda: "never", **endings.callbacks("queued"))  # type: ignore[arg-type]
    runner.submit(_raises, **endings.callbacks("raises"))  # type: ignore[arg-type]
    runner.submit(_refuses, **endings.callbacks("refuses"))  # type: ignore[arg-type]
    runner.submit(lambda: 42, **endings.callbacks("returns"))  # type: ignore[arg-type]
    assert running is not None and queued is not None
    assert runner.pending == 5

    runner.cancel(queued)  # before it started: it ends now, once
    assert endings.seen == Counter({("queued", "cancelled"): 1})
    runner.cancel(running)  # while it runs: its stop is called, it ends as cancelled
    qtbot.waitUntil(lambda: runner.pending == 0, timeout=WAIT_MS)

    assert endings.names() == Counter(["running", "queued", "raises", "refuses", "returns"])
    assert ("running", "cancelled") in endings.seen
    assert ("refuses", "failed The image was refused.") in endings.seen
    assert ("returns", "succeeded 42") in endings.seen
    failed = [how for (name, how) in endings.seen if name == "raises"]
    assert len(failed) == 1 and failed[0].startswith("failed Unexpected error (a bug)")
    assert endings.threads == {threading.get_ident()}, "an ending ran outside the GUI thread"
    runner.cancel(queued)  # a second cancel of an ended task changes nothing
    assert sum(endings.seen.values()) == 5


def test_shutdown_ends_queued_and_running_tasks_once(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = TaskRunner(limit=1)
    endings = Endings()
    gate, stop = threading.Event(), threading.Event()

    def halt() -> None:
        stop.set()
        gate.set()

    started = threading.Event()

    def blocked() -> str:
        started.set()
        return _blocked_until(gate, stop)

    task = runner.submit(blocked, **endings.callbacks("running"), stop=halt)  # type: ignore[arg-type]
    runner.submit(lambda: "never", **endings.callbacks("queued"))  # type: ignore[arg-type]
    assert task is not None and started.wait(GATE_WAIT)
    runner.shutdown()  # on quit: cancel all, wait each thread, deliver each ending
    assert endings.seen == Counter({("running", "cancelled"): 1, ("queued", "cancelled"): 1})
    assert runner.pending == 0 and task.qthread.isFinished()
    assert runner.submit(lambda: 1, **endings.callbacks("late")) is None  # type: ignore[arg-type]
    assert sum(endings.seen.values()) == 2
