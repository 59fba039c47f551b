"""Conversion and fetch jobs in the window: their records (state, progress, log, Retry),
run on the window's TaskRunner plumbing with their own concurrency limit; progress arrives
through queued signals, and each run ends exactly once."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, Signal

from ..core.cloud.glance import parse_image_url
from ..core.cloud.upload import ConnectingUpload, UploadResult
from ..core.convert.job import ConvertJob, ConvertResult
from ..core.errors import ChecksumMismatch, DiskscopeError, InvalidProperty, UnsafeImage, WrongDiskFormat
from ..core.fetch.pipeline import FetchJob, FetchRequest, FetchResult
from ..core.packed.convert import PackedConvertJob
from ..core.progress import Progress
from .workers import Task, TaskRunner

# What the window runs as a job, and what a finished one produced: a closed set, so that
# every reader of a result says which kind it handles and mypy checks each field it reads.
Job = ConvertJob | PackedConvertJob | FetchJob | ConnectingUpload
JobResult = ConvertResult | FetchResult | UploadResult
JobFactory = Callable[[Callable[[Progress], None]], Job]  # builds a fresh job (Retry)
JobKind = Literal["convert", "fetch", "upload"]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Failures that end the same way however often they are run: the image itself was refused,
# its bytes are not the ones the checksum names, or an upload's format or properties are
# ones the image or the cloud does not take.
FINAL_FAILURES: tuple[type[DiskscopeError], ...] = (UnsafeImage, ChecksumMismatch, WrongDiskFormat,
                                                     InvalidProperty)  # fmt: skip


@dataclass
class JobRecord:
    id: int
    kind: JobKind
    name: str
    output: Path  # where the result will be
    factory: JobFactory
    state: JobState = JobState.QUEUED
    phase: str = "queued"
    progress: Progress | None = None
    message: str = ""
    result: JobResult | None = None
    job: Job | None = field(default=None, repr=False)
    error: DiskscopeError | None = None  # what ended a failed or cancelled run
    started_at: float | None = None  # time.time() of the run's start, and of its end
    ended_at: float | None = None
    last_fraction: float | None = None  # the last known share done; kept when the job ends
    log: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)

    @property
    def resumable(self) -> bool:
        """A failed or cancelled fetch that kept its .part (and sidecar): Retry resumes it."""
        if self.kind != "fetch" or self.state not in (JobState.FAILED, JobState.CANCELLED):
            return False
        if isinstance(self.job, FetchJob) and self.job.download is not None:
            named = self.job.download.request.destination  # the name chosen in a folder
            return named.with_name(named.name + ".part.meta").exists()
        if self.output.is_dir():
            return any(self.output.glob("*.part.meta"))
        return self.output.with_name(self.output.name + ".part.meta").exists()

    @property
    def retry_helps(self) -> bool:
        """Whether running the job again can end differently: not for a refused image or a
        wrong checksum (branching on the exception's type, never its words)."""
        if self.state not in (JobState.FAILED, JobState.CANCELLED):
            return False
        return not isinstance(self.error, FINAL_FAILURES)

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    def note(self, text: str) -> None:
        """One line of the job's log, stamped with the local time."""
        self.log.append(f"{time.strftime('%H:%M:%S')}  {text}")


def fetch_job_name(request: FetchRequest) -> str:
    """A fetch's name before it runs: the file it writes when the user named one, else the
    URL's last path segment (never its query string: a signed URL's signature is there),
    or the Glance image id, said as such."""
    destination = Path(os.path.abspath(request.destination))
    if not destination.is_dir():
        return f"fetch {destination.name}"
    glance = parse_image_url(request.source)
    if glance is not None:
        return f"fetch Glance image {glance[1]}"
    path = urlsplit(request.source).path if "://" in request.source else request.source
    name = path.rstrip("/").rsplit("/", 1)[-1] or "image"
    return f"fetch {name}"


class JobManager(QObject):
    """The jobs' records; their threads, queue and limit are a TaskRunner's."""

    changed = Signal(int)  # a job's id
    added = Signal(int)
    ended = Signal(int)

    def __init__(self, limit: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = TaskRunner(limit, self)
        self.records: dict[int, JobRecord] = {}
        self._tasks: dict[int, Task] = {}  # queued or running, by job id
        self._ids = itertools.count(1)

    @property
    def limit(self) -> int:
        return self.runner.limit

    @limit.setter
    def limit(self, value: int) -> None:
        self.runner.limit = max(1, value)

    def submit(self, kind: JobKind, name: str, output: Path, factory: JobFactory) -> JobRecord:
        record = JobRecord(next(self._ids), kind, self._unique(name), output, factory)
        record.note(f"queued: {record.name}")
        self.records[record.id] = record
        self.added.emit(record.id)
        self._queue(record)
        return record

    def _unique(self, name: str) -> str:
        """`name`, or `name (2)`, `name (3)`, ... so that each row says which job it is."""
        taken = {r.name for r in self.records.values()}
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name} ({number})", number + 1
        return candidate

    @property
    def active(self) -> list[JobRecord]:
        return [r for r in self.records.values() if not r.finished]

    def _queue(self, record: JobRecord) -> None:
        task = self.runner.submit(
            partial(_run, record),
            partial(self._succeeded, record),
            partial(self._failed, record),
            on_cancel=partial(self._cancelled, record),
            on_progress=partial(self._progressed, record),
            on_start=partial(self._started, record),
            stop=partial(_stop, record),
        )
        if task is None:
            self.end(record, JobState.CANCELLED, "cancelled: the window is closing")
        else:
            self._tasks[record.id] = task

    def _started(self, record: JobRecord, task: Task) -> None:
        """In the GUI thread, just before the job's thread starts: the job is built here,
        so that Cancel always finds it."""
        record.state, record.phase, record.message = JobState.RUNNING, "starting", ""
        record.started_at, record.ended_at = time.time(), None
        record.note("started")
        record.job = record.factory(task.report_progress)
        self.changed.emit(record.id)

    def _progressed(self, record: JobRecord, progress: Progress) -> None:
        if progress.phase != record.phase:
            record.note(progress.phase)
        record.progress = progress
        record.phase = progress.phase
        if progress.fraction is not None:
            record.last_fraction = progress.fraction
        self.changed.emit(record.id)

    def _succeeded(self, record: JobRecord, result: JobResult) -> None:
        self.end(record, JobState.SUCCEEDED, "done", result=result)

    def _failed(self, record: JobRecord, message: str) -> None:
        self.end(record, JobState.FAILED, message, error=self._error(record))

    def _cancelled(self, record: JobRecord) -> None:
        error = self._error(record)
        if record.state == JobState.QUEUED:
            self.end(record, JobState.CANCELLED, "cancelled before it started")
        else:
            self.end(record, JobState.CANCELLED, str(error) if error else "cancelled", error=error)

    def _error(self, record: JobRecord) -> DiskscopeError | None:
        task = self._tasks.get(record.id)
        return task.error if task is not None else None

    def end(self, record: JobRecord, state: JobState, message: str, result: JobResult | None = None,
            error: DiskscopeError | None = None) -> None:  # fmt: skip
        self._tasks.pop(record.id, None)
        record.state, record.message, record.result, record.error = state, message, result, error
        record.phase = state.value
        record.ended_at = time.time()
        record.note(state.value if state == JobState.SUCCEEDED else f"{state.value}: {message}")
        wanted = f"fetch {result.destination.name}" if isinstance(result, FetchResult) else record.name
        if wanted != record.name:  # a Glance id becomes a file name
            record.name = self._unique(wanted)
        self.changed.emit(record.id)
        self.ended.emit(record.id)

    def cancel(self, job_id: int) -> None:
        task = self._tasks.get(job_id)
        if task is not None:
            self.runner.cancel(task)

    def retry(self, job_id: int) -> None:
        record = self.records[job_id]
        if record.finished:
            record.note("resumed" if record.resumable else "retried")
            record.state, record.phase, record.progress, record.message = (
                JobState.QUEUED, "queued", None, "")  # fmt: skip
            record.result, record.error, record.last_fraction = None, None, None
            self.changed.emit(job_id)
            self._queue(record)

    def remove(self, job_id: int) -> None:
        if self.records[job_id].finished:
            del self.records[job_id]

    def shutdown(self) -> None:
        """Cancel everything and wait for each thread: no partial files, no process left."""
        self.runner.shutdown()


def _run(record: JobRecord) -> JobResult:
    """In the job's thread: the job `_started` built."""
    assert record.job is not None
    return record.job.run()


def _stop(record: JobRecord) -> None:
    """Cancel a running job: a fetch aborts its connection too, a conversion sets its event."""
    if isinstance(record.job, FetchJob):
        record.job.abort()
    elif record.job is not None:
        record.job.cancel.set()
