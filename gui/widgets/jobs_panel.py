"""The jobs panel: every conversion and fetch with its progress and its buttons."""

from __future__ import annotations

import json

from diskscope.gui.jobs import JobManager, JobRecord, JobState
from diskscope.gui.models.jobs import PROGRESS_ROLE, JobsModel
from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a progress bar; an unknown total is a busy bar."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem,
              index: QModelIndex | QPersistentModelIndex) -> None:  # fmt: skip
        fraction = index.data(PROGRESS_ROLE)
        if fraction is None:
            super().paint(painter, option, index)
            return
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(2, 3, -2, -3)
        bar.minimum, bar.maximum = 0, (0 if fraction < 0 else 1000)
        bar.progress = 0 if fraction < 0 else int(fraction * 1000)
        bar.text = "" if fraction < 0 else f"{fraction * 100:.0f}%"
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class JobsPanel(QWidget):
    inspect_requested = Signal(str)

    def __init__(self, manager: JobManager) -> None:
        super().__init__()
        self.manager = manager
        self.model = JobsModel(manager)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setItemDelegateForColumn(JobsModel.PROGRESS, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setColumnWidth(JobsModel.NAME, 260)
        self.table.setColumnWidth(JobsModel.PHASE, 220)
        self.table.setColumnWidth(JobsModel.PROGRESS, 140)
        self.table.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, slot, tip in (
            ("Cancel", self.cancel, "Stop the job and remove its partial output"),
            ("Retry", self.retry, "Run the job again; a broken download resumes"),
            ("Open Folder", self.open_folder, "Show the output in the file manager"),
            ("Inspect Result", self.inspect_result, "Add the output to the image list"),
            ("Remove", self.remove, "Remove the finished job from this list"),
        ):
            button = QPushButton(name)
            button.setToolTip(tip)
            button.clicked.connect(slot)
            self.buttons[name] = button
            row.addWidget(button)
        row.addStretch()
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.table)
        layout.addLayout(row)
        layout.addWidget(self.details)
        manager.changed.connect(self._job_changed)
        self._update_buttons()

    def current(self) -> JobRecord | None:
        row = self.table.currentIndex().row()
        return self.model.record(row) if 0 <= row < self.model.rowCount() else None

    def select(self, job_id: int) -> None:
        row = self.model.row_of(job_id)
        if row >= 0:
            self.table.selectRow(row)

    @Slot(QModelIndex, QModelIndex)
    def _selection_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    @Slot(int)
    def _job_changed(self, job_id: int) -> None:
        record = self.current()
        if record is not None and record.id == job_id:
            self._update_buttons()

    def _update_buttons(self) -> None:
        record = self.current()
        running = record is not None and not record.finished
        done = record is not None and record.state == JobState.SUCCEEDED
        self.buttons["Cancel"].setEnabled(running)
        self.buttons["Retry"].setEnabled(record is not None and record.finished and not done)
        self.buttons["Retry"].setText("Resume" if record is not None and record.resumable else "Retry")
        self.buttons["Open Folder"].setEnabled(record is not None)
        self.buttons["Inspect Result"].setEnabled(done)
        self.buttons["Remove"].setEnabled(record is not None and record.finished)
        self.details.setPlainText(describe(record) if record else "")

    @Slot()
    def cancel(self) -> None:
        record = self.current()
        if record is not None:
            self.manager.cancel(record.id)

    @Slot()
    def retry(self) -> None:
        record = self.current()
        if record is not None:
            self.manager.retry(record.id)

    @Slot()
    def open_folder(self) -> None:
        record = self.current()
        if record is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(record.output.parent)))

    @Slot()
    def inspect_result(self) -> None:
        record = self.current()
        if record is not None and record.state == JobState.SUCCEEDED:
            self.inspect_requested.emit(str(result_path(record)))

    @Slot()
    def remove(self) -> None:
        row = self.table.currentIndex().row()
        if row >= 0 and self.model.record(row).finished:
            self.model.remove_row(row)
            self._update_buttons()


def result_path(record: JobRecord) -> object:
    result = record.result
    return getattr(result, "output", None) or getattr(result, "destination", record.output)


def describe(record: JobRecord) -> str:
    """The verification results and exact commands of a finished job, or its failure."""
    if record.state == JobState.FAILED:
        return f"Failed: {record.message}"
    if record.result is None:
        return f"{record.kind}: {record.output}"
    to_json = getattr(record.result, "to_json", None)
    return json.dumps(to_json(), indent=1) if callable(to_json) else str(record.result)
