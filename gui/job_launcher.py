"""Conversions, fetches and uploads started from the window: their dialogs, the plan or
request a dialog returns, and the job that runs it on the window's JobManager."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from ..core.cloud.glance import GlanceClient
from ..core.cloud.upload import ConnectingUpload, UploadRequest, UploadResult
from ..core.convert.job import ConvertJob
from ..core.convert.plan import ConvertPlan
from ..core.convert.request import ConvertRequest
from ..core.errors import DiskscopeError
from ..core.fetch.pipeline import FetchJob, FetchRequest
from ..core.packed.convert import PackedConvertJob
from ..core.packed.magic import file_packing
from ..core.progress import Progress
from ..core.qemu.qemu_img import QemuImg
from .dialogs.convert_dialog import ConvertDialog
from .dialogs.fetch_dialog import FetchDialog, GlanceBrowser
from .dialogs.upload_dialog import UploadDialog
from .jobs import JobFactory, JobKind, JobManager, JobRecord, fetch_job_name
from .models.image_list import ImageEntry
from .session import Session
from .settings import Settings
from .workers import TaskRunner


class JobLauncher(QObject):
    """Image > Convert, File > Fetch, a dropped URL and Image > Upload to Glance: each opens
    its dialog and starts what the user chose as a job; the status bar says how each ended."""

    started = Signal(int)  # a job's id, once it is queued: the window shows it

    def __init__(
        self,
        window: QMainWindow,
        settings: Settings,
        session: Session,
        runner: TaskRunner,
        jobs: JobManager,
        current_entry: Callable[[], ImageEntry | None],
    ) -> None:
        super().__init__(window)
        self.window, self.settings, self.session = window, settings, session
        self.runner, self.jobs, self.current_entry = runner, jobs, current_entry
        self.glance_browser: GlanceBrowser | None = None  # the last one "Open in Browser" showed
        jobs.ended.connect(self._ended)

    @Slot()
    def convert_dialog(self) -> None:
        entry = self.current_entry()
        qemu = self.session.qemu
        if entry is not None and entry.appliance is not None and qemu is not None:
            if not any(d.report for d in entry.appliance.disks):
                self.window.statusBar().showMessage(
                    "The appliance has no disk with content to convert.", 5000
                )
                return
            dialog = ConvertDialog.for_appliance(entry.appliance, qemu, self.runner,
                                                 self.settings.compare_after_convert, self.window,
                                                 policy=self.settings.policy())  # fmt: skip
        elif entry is None or entry.details is None or qemu is None:
            self.window.statusBar().showMessage("Select an inspected image to convert.", 5000)
            return
        else:
            dialog = ConvertDialog(entry.details.report, qemu, self.runner,
                                   self.settings.compare_after_convert, self.window,
                                   owned_chain=entry.details.owned_chain,
                                   policy=self.settings.policy())  # fmt: skip
        if dialog.exec():
            self.start_convert(dialog.plan or dialog.request())

    def start_convert(self, order: ConvertRequest | ConvertPlan) -> JobRecord:
        """Run a conversion: a plan as it was made (the dialog's), or a request, planned
        by the job under the user's policy."""
        qemu = self._qemu()
        plan: ConvertPlan | None = None
        if isinstance(order, ConvertPlan):
            plan, request = order, order.request
        else:
            request = replace(order, policy=self.settings.policy())

        def factory(on_progress: Callable[[Progress], None]) -> ConvertJob | PackedConvertJob:
            if plan is None and file_packing(request.source) is not None:  # inflated first
                return PackedConvertJob(request, qemu, on_progress=on_progress)
            return ConvertJob(request, qemu, on_progress=on_progress, plan=plan)

        name = f"{Path(request.source).name} → {Path(request.destination).name}"
        return self._submit("convert", name, Path(request.destination), factory)

    @Slot()
    def fetch_dialog(self) -> None:
        """File > Fetch, the toolbar button and Ctrl+Shift+F: the dialog, with no URL yet."""
        self.open_fetch("")

    def open_fetch(self, url: str) -> None:
        dialog = FetchDialog(self.settings, self.runner, url, self.window)
        dialog.upload_requested.connect(self.open_upload)
        if dialog.exec() and dialog.fetch_request is not None:
            self.start_fetch(dialog.fetch_request)

    def start_fetch(self, request: FetchRequest) -> JobRecord:
        qemu = self._qemu()
        request = replace(request, policy=self.settings.policy())

        def factory(on_progress: Callable[[Progress], None]) -> FetchJob:
            return FetchJob(request, qemu, on_progress=on_progress)

        return self._submit("fetch", fetch_job_name(request), Path(request.destination), factory)

    @Slot()
    def upload_dialog(self) -> None:
        """Image > Upload to Glance: the selected image file, inspected again by the dialog."""
        entry = self.current_entry()
        if entry is None or entry.pasted is not None or not os.path.isfile(entry.key):
            self.window.statusBar().showMessage("Select an image file to upload.", 5000)
            return
        self.open_upload(entry.key, None)

    @Slot(str, object)
    def open_upload(self, path: str, client: GlanceClient | None) -> None:
        """The upload dialog for `path`, to `client` (the Glance browser it was dropped on) or
        to a cloud or endpoint the dialog asks for."""
        dialog = UploadDialog(Path(path), self._qemu(), self.runner, self.settings, client, self.window)
        if dialog.exec() and dialog.request is not None and dialog.connect_glance is not None:
            self.start_upload(dialog.request, dialog.connect_glance)

    def start_upload(self, request: UploadRequest, connect: Callable[[], GlanceClient]) -> JobRecord:
        qemu = self._qemu()

        def factory(on_progress: Callable[[Progress], None]) -> ConnectingUpload:
            return ConnectingUpload(request, connect, qemu, on_progress)

        return self._submit("upload", f"upload {request.source.name}", request.source, factory)

    @Slot(int)
    def browse_upload(self, job_id: int) -> None:
        """A finished upload's "Open in Browser": the Glance browser, the new image selected."""
        record = self.jobs.records.get(job_id)
        job, result = (record.job, record.result) if record is not None else (None, None)
        if isinstance(job, ConnectingUpload) and job.client is not None and isinstance(result, UploadResult):
            self.glance_browser = GlanceBrowser(job.client, self.runner, self.window, select=result.image.id)
            self.glance_browser.upload_requested.connect(self.open_upload)
            self.glance_browser.open()

    def _qemu(self) -> QemuImg:
        if self.session.qemu is None:
            raise DiskscopeError(self.session.qemu_error)
        return self.session.qemu

    def _submit(self, kind: JobKind, name: str, output: Path, factory: JobFactory) -> JobRecord:
        record = self.jobs.submit(kind, name, output, factory)
        self.started.emit(record.id)
        return record

    @Slot(int)
    def _ended(self, job_id: int) -> None:
        record = self.jobs.records.get(job_id)
        if record is not None:
            self.window.statusBar().showMessage(f"{record.name}: {record.message}", 8000)


def ask_to_cancel_jobs(parent: QWidget, count: int) -> bool:
    """On quit with jobs still running: True if the user lets them be cancelled."""
    answer = QMessageBox.question(
        parent, "Diskscope",
        f"{count} job(s) are still running. Cancel them and quit? Partial output is removed.",
    )  # fmt: skip
    return answer == QMessageBox.StandardButton.Yes
