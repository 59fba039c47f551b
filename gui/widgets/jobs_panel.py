"""The jobs panel: every conversion and fetch with its progress and its buttons."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer, QUrl, Signal, Slot
from PySide6.QtGui import QDesktopServices, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
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

from ...core.cloud.upload import UploadResult
from ...core.convert.job import ConvertResult
from ...core.fetch.pipeline import FetchResult
from ...core.progress import format_duration
from ...core.sizes import human_size
from ..jobs import JobManager, JobRecord, JobResult, JobState
from ..models.jobs import PROGRESS_ROLE, JobsModel, status_text


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a progress bar; an unknown total is a busy bar that
    names the phase."""

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
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        bar.textVisible = True
        QApplication.style().drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter)


class JobsPanel(QWidget):
    inspect_requested = Signal(str)
    browse_requested = Signal(int)  # a finished upload's job id: show the image in Glance

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
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(JobsModel.NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(JobsModel.PROGRESS, QHeaderView.ResizeMode.Interactive)
        self.table.setColumnWidth(JobsModel.PROGRESS, 140)
        self._clock = QTimer(self, interval=1000)  # running jobs' durations
        self._clock.timeout.connect(self._tick)
        self._clock.start()
        self.table.selectionModel().currentRowChanged.connect(self._selection_changed)
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        for name, slot, tip in (
            ("Cancel", self.cancel, "Stop the job and remove its partial output"),
            ("Retry", self.retry, "Run the job again; a broken or cancelled download resumes"),
            ("Open Folder", self.open_folder, "Show the output in the file manager"),
            ("Inspect Result", self.inspect_result, "Add the output to the image list"),
            ("Open in Browser", self.open_in_browser, "Show the uploaded image in the Glance browser"),
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
        self.details.setMaximumHeight(160)
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

    @Slot()
    def _tick(self) -> None:
        self.model.tick()
        record = self.current()
        if record is not None and record.state == JobState.RUNNING:
            self._show_details(record)

    def _show_details(self, record: JobRecord | None) -> None:
        text = describe(record) if record else ""
        if text != self.details.toPlainText():
            self.details.setPlainText(text)

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
        self.buttons["Retry"].setEnabled(record is not None and record.retry_helps)
        self.buttons["Retry"].setText("Resume" if record is not None and record.resumable else "Retry")
        self.buttons["Open Folder"].setEnabled(record is not None)
        uploaded = done and record is not None and record.kind == "upload"
        self.buttons["Inspect Result"].setEnabled(done and not uploaded)
        self.buttons["Open in Browser"].setVisible(record is not None and record.kind == "upload")
        self.buttons["Open in Browser"].setEnabled(uploaded)
        self.buttons["Remove"].setEnabled(record is not None and record.finished)
        self._show_details(record)

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
    def open_in_browser(self) -> None:
        record = self.current()
        if record is not None and record.state == JobState.SUCCEEDED and record.kind == "upload":
            self.browse_requested.emit(record.id)

    @Slot()
    def remove(self) -> None:
        row = self.table.currentIndex().row()
        if row >= 0 and self.model.record(row).finished:
            self.model.remove_row(row)
            self._update_buttons()


def result_path(record: JobRecord) -> Path:
    """The file a finished job made: the name it chose, which a folder given as the
    destination does not say."""
    result = record.result
    if isinstance(result, ConvertResult):
        return result.output
    if isinstance(result, FetchResult):
        return result.destination
    return record.output


def describe(record: JobRecord) -> str:
    """The job in words, as a task list shows it: what, when, how it ended and why, what
    it produced or what to do, then its log."""
    lines = [f"{record.name}: {status_text(record)}"]
    if record.started_at is not None:
        when = f"Started {_clock(record.started_at)}"
        if record.ended_at is not None:
            when += f", ended {_clock(record.ended_at)}"
        lines.append(f"{when} ({format_duration(record.duration or 0.0)}).")
    if record.state == JobState.FAILED:
        lines.append(f"Error: {record.message}")
    elif record.state == JobState.CANCELLED:
        lines.append(record.message[:1].upper() + record.message[1:])
    if record.state in (JobState.FAILED, JobState.CANCELLED):
        lines.append(_what_next(record))
    if record.state == JobState.SUCCEEDED:
        lines += result_lines(record.result)
    lines += ["", "Log:", *record.log]
    return "\n".join(lines)


def _clock(stamp: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def _what_next(record: JobRecord) -> str:
    if record.resumable:
        return "Resume continues the download where it stopped."
    if not record.retry_helps:
        return "Running it again cannot help: the image itself is the problem."
    return "Retry runs the job again from the start."


def result_lines(result: JobResult | None) -> list[str]:
    """What a finished conversion, fetch or upload produced, in words (not a JSON dump)."""
    if isinstance(result, ConvertResult):
        return [
            f"Saved as {result.output}",
            f"Format: {result.format}",
            f"Virtual size: {human_size(result.virtual_size)}",
            *(f"Check: {check}" for check in result.checks),
            *([f"Command: {result.command}"] if result.command else []),
        ]
    if result is None:
        return []
    if isinstance(result, UploadResult):
        image = result.image
        return [
            f"Uploaded to Glance as {image.name} ({image.id}), {image.status}",
            f"Disk format: {result.disk_format}, sent by {result.method.value}",
            *(f"Verified: {check}" for check in result.verified),
            *(f"Note: {note}" for note in result.notes),
        ]
    lines = [f"Saved as {result.destination}"]
    if result.source_format != result.format:
        lines.append(f"Format: {result.format} (downloaded as {result.source_format}, converted)")
    else:
        lines.append(f"Format: {result.format}")
    if result.virtual_size is not None:
        lines.append(f"Virtual size: {human_size(result.virtual_size)}")
    download = result.download
    resumed = f", resumed at byte {download.resumed_from:,}" if download.resumed_from else ""
    lines.append(f"Downloaded: {human_size(download.size)}{resumed}")
    verified = ", ".join(download.verified_by)
    lines.append(f"Verified by: {verified}" if verified else "Not verified: no checksum was given.")
    if result.conversion is not None:
        lines += [f"Check: {check}" for check in result.conversion.checks]
    return lines
