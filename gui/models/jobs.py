"""The jobs table: one row per conversion or fetch."""

from __future__ import annotations

from typing import Any

from diskscope.core.progress import format_duration
from diskscope.core.sizes import human_size
from diskscope.gui.jobs import JobManager, JobRecord
from diskscope.gui.models.table import HeaderTableModel, Index
from diskscope.gui.plain_text import plain_tooltip
from PySide6.QtCore import QModelIndex, Qt

PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 1  # the fraction, or -1 for a busy bar


class JobsModel(HeaderTableModel):
    NAME, PHASE, PROGRESS, BYTES, RATE, ETA = range(6)
    HEADERS = ("Job", "Phase", "Progress", "Bytes", "Rate", "ETA")

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
        p = record.progress
        column = index.column()
        if role == PROGRESS_ROLE and column == self.PROGRESS:
            if record.finished:
                return 1.0 if record.state.value == "succeeded" else 0.0
            if p is None or p.fraction is None:
                return -1.0
            return p.fraction
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return record.name
            if column == self.PHASE:
                return record.message if record.state.value == "failed" else record.phase
            if column == self.PROGRESS:
                if record.state.value == "succeeded":
                    return "100%"
                fraction = p.fraction if p else None
                return "" if fraction is None else f"{fraction * 100:.0f}%"
            if column == self.BYTES and record.finished:
                return finished_size(record)
            if column == self.BYTES and p is not None:
                total = f" of {human_size(p.total)}" if p.total else ""
                return f"{human_size(p.done)}{total}"
            if column == self.RATE and p is not None and p.rate and not record.finished:
                return f"{human_size(int(p.rate))}/s"
            if column == self.ETA and p is not None and p.eta is not None and not record.finished:
                return format_duration(p.eta)
            return ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(record.message or str(record.output))
        return None


def finished_size(record: JobRecord) -> str:
    """What a finished job produced: the output's size on disk, or the bytes fetched."""
    result = record.result
    download = getattr(result, "download", None)
    if download is not None:
        return f"{human_size(download.size)} fetched"
    usage = getattr(result, "disk_usage", None)
    return f"{human_size(usage)} on disk" if isinstance(usage, int) else ""
