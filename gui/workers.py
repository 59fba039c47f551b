"""Thread plumbing: the window's one task runner. Each core call runs in a QObject worker
moved to its own QThread.

The runner keeps Python references to every (thread, worker) pair until the thread has
finished, runs at most `limit` at once and queues the rest. Results come back through
queued signals to slots of a GUI-thread object, never to a lambda (which PySide would call
in the worker's thread). Every task ends exactly once: succeeded, failed or cancelled, a
task cancelled before it started included.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from ..core.errors import Cancelled, DiskscopeError

logger = logging.getLogger(__name__)
R = TypeVar("R")  # what a task's callable returns, and its on_success takes


class Worker(QObject):
    """Runs one callable; ends with exactly one of succeeded, failed or cancelled, and keeps
    the exception that ended it (the signals carry only its sentence)."""

    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    progressed = Signal(object)  # emitted from the worker's thread by the callable itself
    finished = Signal()

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self._fn = fn
        self.error: DiskscopeError | None = None  # read in the GUI thread after the ending

    @Slot()
    def run(self) -> None:
        try:
            result = self._fn()
        except Cancelled as exc:
            self.error = exc
            self.cancelled.emit()
        except DiskscopeError as exc:
            self.error = exc
            logger.info("failed: %s", exc)
            self.failed.emit(str(exc))
        except Exception as exc:
            logger.exception("unexpected error in a worker")
            self.failed.emit(f"Unexpected error ({exc}); the details are in View > Log.")
        else:
            self.succeeded.emit(result)
        finally:
            self.finished.emit()


class Task(QObject):
    """Lives in the GUI thread: one callable, its worker and thread, and the caller's
    callbacks, of which exactly one ending is called."""

    def __init__(
        self,
        fn: Callable[[], Any],
        on_success: Callable[[Any], None],
        on_failure: Callable[[str], None],
        on_cancel: Callable[[], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_start: Callable[[Task], None] | None = None,
        stop: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.qthread = QThread()
        self.worker = Worker(fn)
        self.worker.moveToThread(self.qthread)
        self._on_success, self._on_failure, self._on_cancel = on_success, on_failure, on_cancel
        self._on_progress, self._on_start, self._stop = on_progress, on_start, stop
        self.ended = False
        self.qthread.started.connect(self.worker.run)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.progressed.connect(self._progressed)
        self.worker.finished.connect(self.qthread.quit)

    @property
    def error(self) -> DiskscopeError | None:
        return self.worker.error

    def report_progress(self, value: object) -> None:
        """Callable from the worker's thread: `value` reaches on_progress in the GUI thread."""
        self.worker.progressed.emit(value)

    def start(self) -> None:
        if self._on_start is not None:
            self._on_start(self)
        self.qthread.start()

    def stop(self) -> None:
        """Ask the running callable to stop (it then ends as cancelled, or as it ends)."""
        if self._stop is not None:
            self._stop()

    def _end(self) -> bool:
        if self.ended:
            return False
        self.ended = True
        return True

    @Slot(object)
    def _progressed(self, value: object) -> None:
        if self._on_progress is not None and not self.ended:
            self._on_progress(value)

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        if self._end():
            self._on_success(result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        if self._end():
            self._on_failure(message)

    @Slot()
    def _cancelled(self) -> None:
        if self._end() and self._on_cancel is not None:
            self._on_cancel()


class TaskRunner(QObject):
    """Runs callables in worker threads, at most `limit` at once."""

    busy_changed = Signal(int)  # tasks running or queued
    idle = Signal()

    def __init__(self, limit: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit = max(1, limit)
        self._queue: deque[Task] = deque()
        self._running: list[Task] = []
        self._closing = False

    @property
    def pending(self) -> int:
        return len(self._queue) + len(self._running)

    def submit(
        self,
        fn: Callable[[], R],
        on_success: Callable[[R], None],
        on_failure: Callable[[str], None],
        *,
        on_cancel: Callable[[], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_start: Callable[[Task], None] | None = None,
        stop: Callable[[], None] | None = None,
    ) -> Task | None:
        """Queue `fn`; None once the runner is shutting down (nothing is queued then).

        `on_start` is called in the GUI thread just before the task's thread starts;
        `stop` is what `cancel` calls while the task runs.
        """
        if self._closing:
            return None
        task = Task(fn, on_success, on_failure, on_cancel, on_progress, on_start, stop)
        self._queue.append(task)
        self._start_next()
        self.busy_changed.emit(self.pending)
        return task

    def cancel(self, task: Task) -> None:
        """A queued task ends as cancelled at once; a running one is asked to stop."""
        if task in self._queue:
            self._queue.remove(task)
            task._cancelled()
            task.deleteLater()
            self._changed()
        elif task in self._running:
            task.stop()

    def _start_next(self) -> None:
        while self._queue and len(self._running) < self.limit:
            task = self._queue.popleft()
            self._running.append(task)
            task.qthread.finished.connect(self._thread_finished)
            task.start()

    @Slot()
    def _thread_finished(self) -> None:
        for task in [t for t in self._running if t.qthread.isFinished()]:
            self._running.remove(task)
            self._release(task)
        self._start_next()
        self._changed()

    def _changed(self) -> None:
        self.busy_changed.emit(self.pending)
        if not self.pending:
            self.idle.emit()

    @staticmethod
    def _release(task: Task) -> None:
        task.worker.deleteLater()
        task.qthread.deleteLater()
        task.deleteLater()

    def shutdown(self) -> None:
        """Cancel queued tasks, stop the running ones and wait for their threads (each is
        bounded by qemu-img's limits or its stop), delivering each one's ending."""
        self._closing = True
        while self._queue:
            self.cancel(self._queue[0])
        for task in list(self._running):
            task.stop()
        for task in list(self._running):
            task.qthread.quit()
            task.qthread.wait()
            QCoreApplication.sendPostedEvents(task)  # its one ending, before the objects go
            self._release(task)
        self._running.clear()
