"""The jobs table: one row per conversion or fetch, as a task list shows it: a status icon,
what it is doing, how far, when it started and how long it took."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication, QStyle

from ...core.convert.job import ConvertResult
from ...core.fetch.pipeline import FetchResult
from ...core.progress import format_duration
from ...core.sizes import human_size
from ..jobs import JobManager, JobRecord, JobState
from ..palette import Tone, tone_color
from ..plain_text import plain_tooltip
from .table import SORT_ROLE, HeaderTableModel, Index

PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1  # the fraction, -1 for a busy bar, None for none

STATUS_TEXT = {JobState.QUEUED: "queued", JobState.SUCCEEDED: "done", JobState.FAILED: "failed",
               JobState.CANCELLED: "cancelled"}  # fmt: skip
# Text colours that read on a light and a dark table (AA on white; the palette's own text
# is used for queued and running jobs).
STATUS_TONE = {JobState.SUCCEEDED: Tone.SAFE, JobState.FAILED: Tone.REFUSED, JobState.CANCELLED: Tone.WARNING}


class JobsModel(HeaderTableModel):
    NAME, STATUS, PROGRESS, BYTES, RATE, ETA, STARTED, DURATION = range(8)
    HEADERS = ("Job", "Status", "Progress", "Bytes", "Rate", "ETA", "Started", "Duration")

    def __init__(self, manager: JobManager) -> None:
        super().__init__()
        self.manager = manager
        self._ids: list[int] = []
        manager.added.connect(self._added)
        manager.changed.connect(self._changed)

    def record(self, row: int) -> JobRecord:
        return self.manager.records[self._ids[row]]

    def row_of(self, job_id: int) -> int:
        return self._ids.index(job_id) if job_id in self._ids else -1

    def _added(self, job_id: int) -> None:
        row = len(self._ids)
        self.beginInsertRows(QModelIndex(), row, row)
        self._ids.append(job_id)
        self.endInsertRows()

    def _changed(self, job_id: int) -> None:
        row = self.row_of(job_id)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))

    def tick(self) -> None:
        """The running jobs' durations move on even when their progress does not."""
        for row, job_id in enumerate(self._ids):
            if self.manager.records[job_id].state == JobState.RUNNING:
                self.dataChanged.emit(self.index(row, self.DURATION), self.index(row, self.DURATION))

    def remove_row(self, row: int) -> None:
        job_id = self._ids[row]
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._ids[row]
        self.endRemoveRows()
        self.manager.remove(job_id)

    def row_count(self) -> int:
        return len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        record = self.record(index.row())
        column = index.column()
        if role == PROGRESS_ROLE and column == self.PROGRESS:
            return progress_fraction(record)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._text(record, column)
        if role == SORT_ROLE:
            return self._sort_key(record, column)
        if role == Qt.ItemDataRole.DecorationRole and column == self.NAME:
            return status_icon(record.state)
        if role == Qt.ItemDataRole.ForegroundRole and column == self.STATUS and record.state in STATUS_TONE:
            return tone_color(STATUS_TONE[record.state], QGuiApplication.palette())
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(record.message or str(record.output))
        return None

    def _text(self, record: JobRecord, column: int) -> str:
        p = record.progress
        if column == self.NAME:
            return record.name
        if column == self.STATUS:
            return status_text(record)
        if column == self.PROGRESS:
            return progress_text(record)
        if column == self.BYTES:
            return bytes_text(record)
        if column == self.RATE and p is not None and p.rate and not record.finished:
            return f"{human_size(int(p.rate))}/s"
        if column == self.ETA and p is not None and p.eta is not None and not record.finished:
            return format_duration(p.eta)
        if column == self.STARTED and record.started_at is not None:
            return time.strftime("%H:%M:%S", time.localtime(record.started_at))
        if column == self.DURATION and record.duration is not None:
            return format_duration(record.duration)
        return ""

    def _sort_key(self, record: JobRecord, column: int) -> Any:
        if column == self.STARTED:
            return record.started_at or 0.0
        if column == self.DURATION:
            return record.duration or 0.0
        if column == self.PROGRESS:
            return progress_fraction(record) or 0.0
        return self._text(record, column)


def status_text(record: JobRecord) -> str:
    """queued, the running phase (downloading, verifying, ...), done, failed or cancelled."""
    if record.state == JobState.RUNNING:
        return record.phase
    return STATUS_TEXT[record.state]


def progress_fraction(record: JobRecord) -> float | None:
    """1 when done; the last known fraction of a failed or cancelled job; -1 (a busy bar)
    for a running phase without a total; None where there is nothing to draw."""
    if record.state == JobState.SUCCEEDED:
        return 1.0
    if record.state == JobState.RUNNING:
        p = record.progress
        return p.fraction if p is not None and p.fraction is not None else -1.0
    return record.last_fraction


def progress_text(record: JobRecord) -> str:
    fraction = progress_fraction(record)
    if fraction is None:
        return ""
    if fraction < 0:
        return f"{record.phase}…"
    return f"{fraction * 100:.0f}%"


def bytes_text(record: JobRecord) -> str:
    p = record.progress
    if record.state == JobState.SUCCEEDED:
        return finished_size(record)
    if p is None or (p.done == 0 and not p.total):
        return ""  # a phase that counts no bytes (verifying, inspecting) shows none
    total = f" of {human_size(p.total)}" if p.total else ""
    return f"{human_size(p.done)}{total}"


def status_icon(state: JobState) -> QIcon:
    pixmap = {
        JobState.QUEUED: QStyle.StandardPixmap.SP_FileDialogInfoView,
        JobState.RUNNING: QStyle.StandardPixmap.SP_BrowserReload,
        JobState.SUCCEEDED: QStyle.StandardPixmap.SP_DialogApplyButton,
        JobState.FAILED: QStyle.StandardPixmap.SP_MessageBoxCritical,
        JobState.CANCELLED: QStyle.StandardPixmap.SP_DialogCancelButton,
    }[state]
    return QApplication.style().standardIcon(pixmap)


def finished_size(record: JobRecord) -> str:
    """What a finished job produced: the output's size on disk, or the bytes fetched."""
    result = record.result
    if isinstance(result, FetchResult):
        return f"{human_size(result.download.size)} fetched"
    if isinstance(result, ConvertResult):
        return f"{human_size(result.disk_usage)} on disk"
    return ""
