"""Conversion and fetch jobs in the window: a queue with a concurrency limit, each job in a
QThread worker, progress through queued signals, exactly one ending per job."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from diskscope.core.progress import Progress
from diskscope.gui.workers import Worker
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot


class RunnableJob(Protocol):
    cancel: threading.Event

    def run(self) -> Any: ...


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass
class JobRecord:
    id: int
    kind: str  # "convert" or "fetch"
    name: str
    output: Path  # where the result will be
    factory: Callable[[Callable[[Progress], None]], RunnableJob]  # builds a fresh job (Retry)
    state: JobState = JobState.QUEUED
    phase: str = "queued"
    progress: Progress | None = None
    message: str = ""
    result: Any = None
    job: RunnableJob | None = field(default=None, repr=False)
    progress_updates: int = 0

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    @property
    def resumable(self) -> bool:
        """A failed fetch that kept its .part (and sidecar): Retry resumes it."""
        if self.kind != "fetch" or self.state != JobState.FAILED:
            return False
        if self.output.is_dir():
            return any(self.output.glob("*.part.meta"))
        return self.output.with_name(self.output.name + ".part.meta").exists()


class JobWorker(Worker):
    """A Worker for a job, which also reports progress."""

    progressed = Signal(object)

    def __init__(self, job: RunnableJob) -> None:
        super().__init__(job.run)
        self.job = job


class _Running(QObject):
    """Lives in the GUI thread: receives one job's signals and updates its record."""

    def __init__(self, manager: JobManager, record: JobRecord) -> None:
        super().__init__()
        self.manager, self.record = manager, record
        self.qthread = QThread()
        self.worker = JobWorker(record.factory(self._emit_progress))
        record.job = self.worker.job
        self.worker.moveToThread(self.qthread)
        self.qthread.started.connect(self.worker.run)
        self.worker.progressed.connect(self._progressed)
        self.worker.succeeded.connect(self._succeeded)
        self.worker.failed.connect(self._failed)
        self.worker.cancelled.connect(self._cancelled)
        self.worker.finished.connect(self.qthread.quit)

    def _emit_progress(self, progress: Progress) -> None:
        self.worker.progressed.emit(progress)  # from the job's thread; delivered queued

    @Slot(object)
    def _progressed(self, progress: Progress) -> None:
        self.record.progress = progress
        self.record.phase = progress.phase
        self.record.progress_updates += 1
        self.manager.changed.emit(self.record.id)

    @Slot(object)
    def _succeeded(self, result: Any) -> None:
        self.manager.end(self.record, JobState.SUCCEEDED, "done", result=result)

    @Slot(str)
    def _failed(self, message: str) -> None:
        self.manager.end(self.record, JobState.FAILED, message)

    @Slot()
    def _cancelled(self) -> None:
        self.manager.end(self.record, JobState.CANCELLED, "cancelled; nothing partial was kept")


class JobManager(QObject):
    changed = Signal(int)  # a job's id
    added = Signal(int)
    ended = Signal(int)

    def __init__(self, limit: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.limit = max(1, limit)
        self.records: dict[int, JobRecord] = {}
        self._running: dict[int, _Running] = {}
        self._ids = itertools.count(1)

    def submit(self, kind: str, name: str, output: Path,
               factory: Callable[[Callable[[Progress], None]], RunnableJob]) -> JobRecord:  # fmt: skip
        record = JobRecord(next(self._ids), kind, name, output, factory)
        self.records[record.id] = record
        self.added.emit(record.id)
        self._start_next()
        return record

    @property
    def active(self) -> list[JobRecord]:
        return [r for r in self.records.values() if not r.finished]

    def _start_next(self) -> None:
        queued = [r for r in self.records.values() if r.state == JobState.QUEUED]
        while queued and len(self._running) < self.limit:
            record = queued.pop(0)
            record.state, record.phase, record.message = JobState.RUNNING, "starting", ""
            running = _Running(self, record)
            self._running[record.id] = running
            running.qthread.finished.connect(self._thread_finished)
            running.qthread.start()
            self.changed.emit(record.id)

    def end(self, record: JobRecord, state: JobState, message: str, result: Any = None) -> None:
        record.state, record.message, record.result = state, message, result
        record.phase = state.value
        self.changed.emit(record.id)
        self.ended.emit(record.id)

    @Slot()
    def _thread_finished(self) -> None:
        for job_id, running in list(self._running.items()):
            if running.qthread.isFinished():
                del self._running[job_id]
                running.worker.deleteLater()
                running.qthread.deleteLater()
                running.deleteLater()
        self._start_next()

    def cancel(self, job_id: int) -> None:
        record = self.records[job_id]
        if record.state == JobState.QUEUED:
            self.end(record, JobState.CANCELLED, "cancelled before it started")
        elif record.state == JobState.RUNNING and record.job is not None:
            abort = getattr(record.job, "abort", None)
            if callable(abort):
                abort()
            else:
                record.job.cancel.set()

    def retry(self, job_id: int) -> None:
        record = self.records[job_id]
        if record.finished:
            record.state, record.phase, record.progress, record.message = (
                JobState.QUEUED, "queued", None, "")  # fmt: skip
            record.result = None
            self.changed.emit(job_id)
            self._start_next()

    def remove(self, job_id: int) -> None:
        if self.records[job_id].finished:
            del self.records[job_id]

    def shutdown(self) -> None:
        """Cancel everything and wait for each thread: no partial files, no process left."""
        for record in list(self.records.values()):
            if not record.finished:
                self.cancel(record.id)
        for running in list(self._running.values()):
            running.qthread.quit()
            running.qthread.wait()
            # Deliver the job's last signals (its one ending) before the objects go.
            QCoreApplication.sendPostedEvents(running)
        self._running.clear()
