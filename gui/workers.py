"""Thread plumbing: each core call runs in a QObject worker moved to its own QThread.

The runner keeps Python references to every (thread, worker) pair until the
thread has finished, runs at most `limit` at once and queues the rest. Results
come back through queued signals to slots of a GUI-thread object, never to a
lambda (which PySide would call in the worker's thread).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from diskscope.core.errors import Cancelled, DiskscopeError
from PySide6.QtCore import QObject, QThread, Signal, Slot

logger = logging.getLogger(__name__)


class Worker(QObject):
    """Runs one callable; ends with exactly one of succeeded, failed or cancelled."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn = fn

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn()
        except Cancelled:
            self.cancelled.emit()
        except DiskscopeError as exc:
            logger.info("failed: %s", exc)
            self.failed.emit(str(exc))
        except Exception as exc:
            logger.exception("unexpected error in a worker")
            self.failed.emit(f"Unexpected error ({exc}); the details are in View > Log.")
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()


class _Task(QObject):
    """Lives in the GUI thread and hands a worker's result to the caller's callbacks."""

    def __init__(
        self,
        fn: Callable[[], Any],
        on_success: Callable[[Any], None],
        on_failure: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.qthread = QThread()
        self.worker = Worker(fn)
        self.worker.moveToThread(self.qthread)
        self._on_success = on_success
        self._on_failure = on_failure
        self.qthread.started.connect(self.worker.run)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._failed)
        self.worker.finished.connect(self.qthread.quit)

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        self._on_success(result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self._on_failure(message)


class TaskRunner(QObject):
    """Runs callables in worker threads, at most `limit` at once."""

    busy_changed = Signal(int)  # tasks running or queued
    idle = Signal()

    def __init__(self, limit: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit = max(1, limit)
        self._queue: deque[_Task] = deque()
        self._running: list[_Task] = []
        self._closing = False

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._running)

    def submit(
        self,
        fn: Callable[[], Any],
        on_success: Callable[[Any], None],
        on_failure: Callable[[str], None],
    ) -> None:
        if self._closing:
            return
        self._queue.append(_Task(fn, on_success, on_failure))
        self._start_next()
        self.busy_changed.emit(self.pending)

    def _start_next(self) -> None:
        while self._queue and len(self._running) < self.limit:
            task = self._queue.popleft()
            self._running.append(task)
            task.qthread.finished.connect(self._thread_finished)
            task.qthread.start()

    @Slot()
    def _thread_finished(self) -> None:
        for task in [t for t in self._running if t.qthread.isFinished()]:
            self._running.remove(task)
            task.worker.deleteLater()
            task.qthread.deleteLater()
            task.deleteLater()
        self._start_next()
        self.busy_changed.emit(self.pending)
        if not self.pending:
            self.idle.emit()

    def shutdown(self) -> None:
        """Drop queued work and wait for running threads (each is bounded by qemu-img limits)."""
        self._closing = True
        self._queue.clear()
        for task in list(self._running):
            task.qthread.quit()
            task.qthread.wait()
        self._running.clear()
