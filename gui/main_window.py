"""The Diskscope main window: the image list on the left, the selected image on the right."""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QStandardPaths, Qt, QUrl, Slot
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QContextMenuEvent,
    QDesktopServices,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QFileDialog,
    QHeaderView,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTreeView,
    QWidget,
)

from ..core.cloud.glance import GlanceClient
from ..core.cloud.upload import ConnectingUpload, UploadRequest
from ..core.convert.job import ConvertJob
from ..core.convert.plan import ConvertPlan
from ..core.convert.request import ConvertRequest
from ..core.errors import DiskscopeError
from ..core.fetch.pipeline import FetchJob, FetchRequest
from ..core.fetch.sums import SumsCheck, check_sums
from ..core.progress import Progress
from ..core.qemu.image_info import ImageInfo
from ..core.qemu.qemu_img import QemuImg
from ..core.qemu.results import CheckResult
from ..core.report.details import ImageDetails, gather_details
from ..core.report.export import write_export
from ..core.samples import create_samples
from .actions import apply_icons, build_actions
from .dialogs.about import show_about
from .dialogs.convert_dialog import ConvertDialog
from .dialogs.fetch_dialog import FetchDialog, GlanceBrowser
from .dialogs.log_view import LogDialog
from .dialogs.paste import PasteDialog
from .dialogs.settings_dialog import SettingsDialog
from .dialogs.upload_dialog import UploadDialog
from .jobs import JobManager, JobRecord, fetch_job_name
from .models.image_list import EntryState, ImageEntry, ImageListModel
from .models.jobs import progress_fraction, status_text
from .plain_text import PlainLabel, warn
from .session import Session
from .settings import Settings
from .widgets.allocation_map import AllocationPanel
from .widgets.chain_view import ChainPanel
from .widgets.drop_overlay import DropOverlay
from .widgets.empty_state import EmptyState
from .widgets.integrity import IntegrityPanel
from .widgets.jobs_panel import JobsPanel
from .widgets.overview import OverviewPanel
from .widgets.raw_view import RawPanel
from .widgets.snapshots_panel import SnapshotsPanel
from .widgets.status_bar import MessageBar
from .workers import TaskRunner

logger = logging.getLogger(__name__)
ICON = Path(__file__).resolve().parent.parent / "resources" / "diskscope.svg"


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; every regular, non-hidden file directly inside a given folder."""
    result: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            with os.scandir(path) as entries:
                files = sorted(e.path for e in entries if not e.name.startswith(".") and e.is_file())
            result += files
        else:
            result.append(path)
    return [os.path.abspath(p) for p in result]


def samples_folder() -> Path:
    """The samples' folder in the user's cache (XDG_CACHE_HOME): never a new /tmp folder."""
    cache = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(cache) / "samples"


def make_samples(qemu: QemuImg, folder: Path) -> list[Path]:
    """Empty `folder` and create the samples in it; runs in a worker (qemu-img runs six times)."""
    try:
        if folder.exists():
            shutil.rmtree(folder)  # only ours; a symbolic link here raises instead of being followed
        folder.mkdir(parents=True, mode=0o700)
        return create_samples(qemu, folder)
    except (DiskscopeError, OSError) as exc:
        raise DiskscopeError(f"The samples could not be created: {exc}") from exc


class MainWindow(QMainWindow):
    # Built from gui/actions.py's table by build_actions.
    open_action: QAction
    open_folder_action: QAction
    samples_action: QAction
    paste_action: QAction
    export_action: QAction
    close_action: QAction
    quit_action: QAction
    copy_action: QAction
    find_action: QAction
    settings_action: QAction
    refresh_action: QAction
    check_action: QAction
    convert_action: QAction
    fetch_action: QAction
    upload_action: QAction
    log_action: QAction
    about_action: QAction
    open_folder_in_files: QAction

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.settings = settings
        self.setWindowTitle("Diskscope")
        self.setWindowIcon(QIcon(str(ICON)))
        self.setAcceptDrops(True)
        self.qemu: QemuImg | None = None
        self.qemu_error = ""
        self.session = Session()
        self.runner = TaskRunner(settings.parallel_inspections, self)
        self._stop_hashing = threading.Event()  # set on close: a hash is not bounded by qemu-img's limits
        self.runner.busy_changed.connect(self._busy_changed)
        self.jobs = JobManager(settings.concurrent_jobs, self)
        self.jobs.ended.connect(self._job_ended)
        self.confirm_close: Callable[[int], bool] = self._ask_to_cancel_jobs
        self.model = self.session.images
        self._build_list()
        self._build_tabs()
        self._build_layout()
        self._build_status_bar()
        self._build_actions()
        self._set_up_keyboard_and_looks()
        self.reload_qemu()
        self._restore_state()
        self._update_view()

    # -- set-up -------------------------------------------------------------------------------

    def _build_list(self) -> None:
        self.list = QTreeView()
        self.list.setModel(self.model)
        self.list.setRootIsDecorated(False)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.list.selectionModel().currentRowChanged.connect(self._current_changed)
        header = self.list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(ImageListModel.NAME, QHeaderView.ResizeMode.Stretch)
        for column in (ImageListModel.FORMAT, ImageListModel.SIZE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)

    def _build_tabs(self) -> None:
        self.overview = OverviewPanel()
        self.snapshots = SnapshotsPanel()
        self.chain = ChainPanel()
        self.allocation = AllocationPanel()
        self.integrity = IntegrityPanel()
        self.integrity.check_requested.connect(self.run_check)
        self.raw = RawPanel()
        self.tabs = QTabWidget()
        for widget, name in (
            (self.overview, "Overview"),
            (self.snapshots, "Snapshots"),
            (self.chain, "Backing chain"),
            (self.allocation, "Allocation"),
            (self.integrity, "Integrity"),
            (self.raw, "Raw"),
        ):
            self.tabs.addTab(widget, name)

    def _build_layout(self) -> None:
        """The list beside the tabs (or the empty state), the jobs dock below, the drop hint."""
        self.empty = EmptyState()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.tabs)
        self.splitter = QSplitter()
        self.splitter.addWidget(self.list)
        self.splitter.addWidget(self.stack)
        self.splitter.setStretchFactor(1, 3)
        self.setCentralWidget(self.splitter)
        self.jobs_panel = JobsPanel(self.jobs)
        self.jobs_panel.inspect_requested.connect(self._inspect_result)
        self.jobs_panel.browse_requested.connect(self.browse_upload)
        self.jobs_dock = QDockWidget("Jobs", self)
        self.jobs_dock.setObjectName("jobsDock")
        self.jobs_dock.setWidget(self.jobs_panel)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.jobs_dock)
        self.jobs_dock.hide()

        self.drop_hint = DropOverlay(self)

    def _build_status_bar(self) -> None:
        self.setStatusBar(MessageBar())  # long messages end in "…" before the qemu-img version
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(200)
        self.progress.hide()
        self.qemu_label = PlainLabel()
        self.jobs_progress = QProgressBar()  # all jobs at once, for when the dock is hidden
        self.jobs_progress.setMaximumWidth(220)
        self.jobs_progress.hide()
        self.jobs.changed.connect(self._jobs_status)
        self.statusBar().addPermanentWidget(self.jobs_progress)
        self.statusBar().addPermanentWidget(self.progress)
        self.statusBar().addPermanentWidget(self.qemu_label)

    def _build_actions(self) -> None:
        """The actions come from the table in gui/actions.py; here they are laid out."""
        self.actions_by_name = build_actions(self)
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.open_action, self.open_folder_action])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        file_menu.addActions([self.samples_action, self.paste_action, self.fetch_action])
        file_menu.addSeparator()
        file_menu.addActions([self.export_action, self.close_action])
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addActions([self.copy_action, self.find_action])
        edit_menu.addSeparator()
        edit_menu.addAction(self.settings_action)
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.refresh_action, self.check_action, self.log_action])
        view_menu.addAction(self.jobs_dock.toggleViewAction())
        image_menu = menu.addMenu("&Image")
        image_menu.addActions([self.convert_action, self.upload_action, self.check_action,
                               self.export_action])  # fmt: skip
        menu.addMenu("&Help").addAction(self.about_action)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addActions([self.open_action, self.open_folder_action, self.refresh_action,
                            self.convert_action, self.fetch_action, self.export_action])  # fmt: skip
        self.list.addActions([self.refresh_action, self.convert_action, self.upload_action, self.check_action,
                              self.export_action, self.open_folder_in_files, self.close_action])  # fmt: skip

    # -- keyboard, accessibility and looks ----------------------------------------------------

    def _set_up_keyboard_and_looks(self) -> None:
        self._apply_icons()
        self.empty.set_actions([self.open_action, self.open_folder_action,
                                self.fetch_action, self.samples_action])  # fmt: skip
        shortcuts = (
            ("Ctrl+Tab", 1), ("Ctrl+PgDown", 1), ("Ctrl+Shift+Tab", -1), ("Ctrl+Backtab", -1),
            ("Ctrl+PgUp", -1),
        )  # fmt: skip
        for keys, step in shortcuts:
            QShortcut(QKeySequence(keys), self, partial(self._step_tab, step))
        QShortcut(QKeySequence("Shift+F10"), self, self._context_menu_from_keyboard)
        self.list.setAccessibleName(self.tr("Images"))
        self.tabs.setAccessibleName(self.tr("Image details"))
        self.tabs.tabBar().setAccessibleName(self.tr("Image details tabs"))
        self.overview.banner.setAccessibleName(self.tr("Verdict"))
        self.overview.banner.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.overview.banner.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # Tab reaches the overview
        self.jobs_panel.table.setAccessibleName(self.tr("Jobs"))
        self.jobs_panel.details.setAccessibleName(self.tr("Job details"))
        self.tabs.setMinimumSize(360, 280)  # at 1024x640 with the jobs dock open, too
        self.list.setMinimumWidth(180)
        self.splitter.setChildrenCollapsible(False)
        self.progress.setAccessibleName(self.tr("Inspection progress"))

    def _apply_icons(self) -> None:
        apply_icons(self.actions_by_name, self.palette())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "actions_by_name"):
            self._apply_icons()  # a dark theme gets light icons
        super().changeEvent(event)

    def _step_tab(self, step: int) -> None:
        """Ctrl+Tab, Ctrl+PgDown: the next tab; with Shift, or Ctrl+PgUp: the previous one."""
        if self.stack.currentWidget() is self.tabs:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())

    def _context_menu_from_keyboard(self) -> None:
        """Shift+F10: the focused widget's context menu, at its current item if it has one."""
        focus = QApplication.focusWidget()
        if focus is None or not self.isAncestorOf(focus):
            return
        where = focus.rect().center()
        if isinstance(focus, QAbstractItemView) and focus.currentIndex().isValid():
            where = focus.visualRect(focus.currentIndex()).center()
            where = focus.viewport().mapTo(focus, where)
        event = QContextMenuEvent(QContextMenuEvent.Reason.Keyboard, where, focus.mapToGlobal(where))
        QApplication.sendEvent(focus, event)

    def reload_qemu(self) -> None:
        try:
            self.qemu = QemuImg(self.settings.qemu_img_path or None, self.settings.limits())
            self.qemu_label.setText(f"qemu-img {self.qemu.version}")
            self.qemu_error = ""
        except DiskscopeError as exc:
            self.qemu, self.qemu_error = None, str(exc)
            self.qemu_label.setText("qemu-img missing")
            self.statusBar().showMessage(self.qemu_error)
        self.runner.limit = self.settings.parallel_inspections
        if hasattr(self, "jobs"):
            self.jobs.limit = self.settings.concurrent_jobs

    def _restore_state(self) -> None:
        geometry = self.settings.window_state("geometry")
        if not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 700)
        splitter = self.settings.window_state("splitter")
        if not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        else:
            self.splitter.setSizes([330, 770])

    # -- opening ------------------------------------------------------------------------------

    def open_paths(self, paths: list[str]) -> None:
        try:
            files = expand_paths(paths)
        except OSError as exc:
            self.statusBar().showMessage(f"Could not read the folder: {exc.strerror}.")
            return
        if not files:
            self.statusBar().showMessage("There is nothing to open there.", 5000)
            return
        first_row = self.session.open(files, runner_idle=not self.runner.pending)
        for path in files:
            if self.qemu is None:
                self._failed(path, self.qemu_error)
                continue
            qemu = self.qemu
            self.runner.submit(
                partial(gather_details, path, qemu, self.settings.policy()),
                partial(self._inspected, path),
                partial(self._failed, path),
            )
            if len(files) == 1:
                self.settings.add_recent(path)
        self._select_row(first_row)
        self._update_view()

    def _inspected(self, key: str, details: ImageDetails) -> None:
        self._show_row(
            self.session.inspected(ImageEntry(key, os.path.basename(key), EntryState.READY, details=details))
        )
        if details.sums is not None:
            self._check_sums(key, details)

    def _check_sums(self, key: str, details: ImageDetails) -> None:
        """Hash the image against the SHA256SUMS beside it, in a task of its own: the
        verdict shows at once, and closing the window stops the hash."""
        assert details.sums is not None
        self.runner.submit(
            partial(check_sums, details.path, details.sums, self._stop_hashing),
            partial(self._sums_checked, key, details),
            partial(self._sums_failed, key),
        )

    def _sums_checked(self, key: str, details: ImageDetails, check: SumsCheck) -> None:
        self._show_row(self.session.sums_checked(key, details, check))

    def _sums_failed(self, key: str, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def _failed(self, key: str, message: str) -> None:
        self._show_row(
            self.session.inspected(ImageEntry(key, os.path.basename(key), EntryState.FAILED, error=message))
        )
        self.statusBar().showMessage(message, 8000)

    def _show_row(self, row: int) -> None:
        """Show the entry at `row` again if it is the selected one (-1: nothing changed)."""
        if row >= 0 and row == self.list.currentIndex().row():
            self._show(self.model.entry(row))

    def _select_row(self, row: int) -> None:
        if row >= 0:
            self.list.selectionModel().setCurrentIndex(
                self.model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
            )

    @Slot()
    def open_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open disk images", "",
            "Disk images (*.qcow2 *.qcow *.img *.raw *.vmdk *.vhd *.vhdx *.vdi *.iso *.luks);;"
            "All files (*)",
        )  # fmt: skip
        if paths:
            self.open_paths(paths)

    @Slot()
    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open every image in a folder")
        if folder:
            self.open_paths([folder])

    @Slot()
    def open_samples(self) -> None:
        if self.qemu is None:
            warn(self, self.qemu_error)
            return
        self.samples_action.setEnabled(False)
        self.statusBar().showMessage("Creating the sample images…")
        self.runner.submit(
            partial(make_samples, self.qemu, samples_folder()), self._samples_made, self._samples_failed
        )

    def _samples_made(self, samples: list[Path]) -> None:
        self.samples_action.setEnabled(True)
        self.open_paths([str(p) for p in samples])

    def _samples_failed(self, message: str) -> None:
        self.samples_action.setEnabled(True)
        self.statusBar().clearMessage()
        warn(self, message)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        files = self.settings.recent_files
        for path in files:
            action = self.recent_menu.addAction(path.replace("&", "&&"))  # no mnemonic
            action.triggered.connect(partial(self.open_paths, [path]))
        if not files:
            self.recent_menu.addAction("(none)").setEnabled(False)
        else:
            self.recent_menu.addSeparator()
            self.recent_menu.addAction("Clear", self.settings.clear_recent)

    @Slot()
    def paste_dialog(self) -> None:
        dialog = PasteDialog(self)
        if dialog.exec() and dialog.info is not None:
            self.add_pasted(dialog.info, dialog.edit.toPlainText())

    def add_pasted(self, info: ImageInfo, text: str) -> None:
        self._select_row(self.session.paste(info, text))
        self._update_view()

    # -- the selected image -------------------------------------------------------------------

    def current_entry(self) -> ImageEntry | None:
        row = self.list.currentIndex().row()
        return self.model.entry(row) if 0 <= row < self.model.rowCount() else None

    @Slot(QModelIndex, QModelIndex)
    def _current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = self.current_entry()
        if entry is not None:
            self._show(entry)

    def _show(self, entry: ImageEntry) -> None:
        self.overview.show_entry(entry)
        info = entry.info
        self.snapshots.set_snapshots(info.snapshots if info else ())
        self.tabs.setTabText(1, f"Snapshots ({len(info.snapshots)})" if info else "Snapshots")
        self.chain.show_entry(entry)
        self.allocation.show_entry(entry)
        self.integrity.show_entry(entry, self.session.checks.get(entry.key))
        self.raw.show_entry(entry)
        self.setWindowTitle(f"{entry.name} — Diskscope")

    def _update_view(self) -> None:
        has_images = self.model.rowCount() > 0
        self.stack.setCurrentWidget(self.tabs if has_images else self.empty)
        self.list.setVisible(has_images)  # the first screen is the empty state alone
        for action in (self.export_action, self.close_action, self.refresh_action,
                       self.check_action, self.convert_action):  # fmt: skip
            action.setEnabled(has_images)
        if not has_images:
            self.setWindowTitle("Diskscope")

    @Slot()
    def refresh_current(self) -> None:
        entry = self.current_entry()
        if entry is not None and entry.state != EntryState.PASTED:
            self.open_paths([entry.key])

    @Slot()
    def close_current(self) -> None:
        row = self.list.currentIndex().row()
        if row >= 0:
            self.session.close(row)
            self._select_row(min(row, self.model.rowCount() - 1))
            self._update_view()

    @Slot()
    def run_check(self) -> None:
        entry = self.current_entry()
        if entry is None or entry.details is None or not entry.details.report.safe:
            self.statusBar().showMessage("Only an image that passed inspection can be checked.")
            return
        if self.qemu is None:
            return
        report = entry.details.report
        self.tabs.setCurrentWidget(self.integrity)
        self.integrity.show_running()
        self.runner.submit(
            partial(self.qemu.check, os.path.realpath(report.path), report.format.qemu_driver),
            partial(self._checked, entry.key),
            partial(self._check_failed, entry.key),
        )

    def _checked(self, key: str, result: CheckResult) -> None:
        self.session.checks[key] = result
        current = self.current_entry()
        if current is not None and current.key == key:
            self.integrity.show_result(result)

    def _check_failed(self, key: str, message: str) -> None:
        current = self.current_entry()
        if current is not None and current.key == key:
            self.integrity.show_error(message)

    # -- jobs ---------------------------------------------------------------------------------

    @Slot()
    def convert_dialog(self) -> None:
        entry = self.current_entry()
        if entry is None or entry.details is None or self.qemu is None:
            self.statusBar().showMessage("Select an inspected image to convert.", 5000)
            return
        dialog = ConvertDialog(entry.details.report, self.qemu, self.runner,
                               self.settings.verify_after_convert, self,
                               owned_chain=entry.details.owned_chain,
                               policy=self.settings.policy())  # fmt: skip
        if dialog.exec():
            self.start_convert(dialog.plan or dialog.request())

    def start_convert(self, order: ConvertRequest | ConvertPlan) -> JobRecord:
        """Run a conversion: a plan as it was made (the dialog's), or a request, planned
        by the job under the user's policy."""
        qemu = self.qemu
        assert qemu is not None
        plan: ConvertPlan | None = None
        if isinstance(order, ConvertPlan):
            plan, request = order, order.request
        else:
            request = replace(order, policy=self.settings.policy())

        def factory(on_progress: Callable[[Progress], None]) -> ConvertJob:
            return ConvertJob(request, qemu, on_progress=on_progress, plan=plan)

        name = f"{Path(request.source).name} → {Path(request.destination).name}"
        return self._submit("convert", name, Path(request.destination), factory)

    @Slot()
    def fetch_dialog(self) -> None:
        """File > Fetch, the toolbar button and Ctrl+Shift+F: the dialog, with no URL yet."""
        self.open_fetch("")

    def open_fetch(self, url: str) -> None:
        dialog = FetchDialog(self.settings, self.runner, url, self)
        dialog.upload_requested.connect(self.open_upload)
        if dialog.exec() and dialog.fetch_request is not None:
            self.start_fetch(dialog.fetch_request)

    def start_fetch(self, request: FetchRequest) -> JobRecord:
        qemu = self.qemu
        assert qemu is not None

        request = replace(request, policy=self.settings.policy())

        def factory(on_progress: Callable[[Progress], None]) -> FetchJob:
            return FetchJob(request, qemu, on_progress=on_progress)

        return self._submit("fetch", fetch_job_name(request), Path(request.destination), factory)

    @Slot()
    def upload_dialog(self) -> None:
        """Image > Upload to Glance: the selected image, inspected again by the dialog."""
        entry = self.current_entry()
        if entry is None or entry.pasted is not None or not os.path.isfile(entry.key):
            self.statusBar().showMessage("Select an image file to upload.", 5000)
            return
        self.open_upload(entry.key, None)

    @Slot(str, object)
    def open_upload(self, path: str, client: GlanceClient | None) -> None:
        """The upload dialog for `path`, to `client` (the Glance browser it was dropped on) or
        to a cloud or endpoint the dialog asks for."""
        if self.qemu is None:
            warn(self, self.qemu_error)
            return
        dialog = UploadDialog(Path(path), self.qemu, self.runner, self.settings, client, self)
        if dialog.exec() and dialog.request is not None and dialog.connect_glance is not None:
            self.start_upload(dialog.request, dialog.connect_glance)

    def start_upload(self, request: UploadRequest, connect: Callable[[], GlanceClient]) -> JobRecord:
        qemu = self.qemu
        assert qemu is not None

        def factory(on_progress: Callable[[Progress], None]) -> ConnectingUpload:
            return ConnectingUpload(request, connect, qemu, on_progress)

        return self._submit("upload", f"upload {request.source.name}", request.source, factory)

    @Slot(int)
    def browse_upload(self, job_id: int) -> None:
        """A finished upload's "Open in Browser": the Glance browser, the new image selected."""
        record = self.jobs.records.get(job_id)
        client = getattr(record.job, "client", None) if record is not None else None
        image = getattr(getattr(record, "result", None), "image", None)
        if isinstance(client, GlanceClient) and image is not None:
            self.glance_browser = GlanceBrowser(client, self.runner, self, select=image.id)
            self.glance_browser.upload_requested.connect(self.open_upload)
            self.glance_browser.open()

    def _submit(self, kind: str, name: str, output: Path, factory: Callable[..., object]) -> JobRecord:
        if self.qemu is None:
            raise DiskscopeError(self.qemu_error)
        self.jobs_dock.show()
        record = self.jobs.submit(kind, name, output, factory)  # type: ignore[arg-type]
        self.jobs_panel.select(record.id)
        return record

    @Slot(int)
    def _job_ended(self, job_id: int) -> None:
        record = self.jobs.records.get(job_id)
        if record is not None:
            self.statusBar().showMessage(f"{record.name}: {record.message}", 8000)

    @Slot(str)
    def _inspect_result(self, path: str) -> None:
        self.open_paths([path])

    def _ask_to_cancel_jobs(self, count: int) -> bool:
        answer = QMessageBox.question(
            self, "Diskscope",
            f"{count} job(s) are still running. Cancel them and quit? Partial output is removed.",
        )  # fmt: skip
        return answer == QMessageBox.StandardButton.Yes

    @Slot()
    def export_dialog(self) -> None:
        entry = self.current_entry()
        if entry is None or entry.details is None:
            self.statusBar().showMessage("Only an inspected image can be exported.", 5000)
            return
        suggested = str(Path.home() / f"{entry.name}.md")
        path, _filter = QFileDialog.getSaveFileName(
            self, "Export inspection", suggested, "Markdown (*.md);;JSON (*.json)"
        )
        if path:
            self.export_to(path, entry.details)

    def export_to(self, path: str, details: ImageDetails) -> None:
        try:
            write_export(path, details)
        except OSError as exc:
            warn(self, f"Could not write {path}: {exc.strerror}.")
            return
        self.statusBar().showMessage(f"Exported to {path}.", 5000)

    @Slot()
    def copy(self) -> None:
        focus = QGuiApplication.focusObject()
        if isinstance(focus, QWidget) and self.snapshots.isAncestorOf(focus):
            self.snapshots.copy()
            return
        entry = self.current_entry()
        if entry is not None and entry.details is not None:
            from ..core.report.terminal import format_report

            QGuiApplication.clipboard().setText(format_report(entry.details.report))

    @Slot()
    def find_snapshots(self) -> None:
        self.tabs.setCurrentWidget(self.snapshots)
        self.snapshots.focus_filter()

    @Slot()
    def show_in_files(self) -> None:
        entry = self.current_entry()
        if entry is not None and entry.state != EntryState.PASTED:
            QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(entry.key)))

    @Slot()
    def settings_dialog(self) -> None:
        if SettingsDialog(self.settings, self).exec():
            self.reload_qemu()

    @Slot()
    def show_log(self) -> None:
        LogDialog(self).exec()

    @Slot()
    def show_about(self) -> None:
        show_about(self, self.qemu.version if self.qemu else "not found")

    @Slot(int)
    def _busy_changed(self, pending: int) -> None:
        if pending and self.session.batch_total > 1:
            self.progress.setRange(0, self.session.batch_total)
            self.progress.setValue(self.session.batch_done)
            self.progress.setFormat("Inspecting %v of %m")
            self.progress.show()
        elif pending:
            self.progress.setRange(0, 0)
            self.progress.show()
        else:
            self.progress.hide()
            running = len(self.jobs.active)
            self.statusBar().showMessage(f"{running} job(s) running." if running else "Ready.", 3000)

    @Slot(int)
    def _jobs_status(self, _job_id: int) -> None:
        """The jobs' overall progress in the status bar: a share when every running job
        knows its own, else a busy bar; hidden when no job is left."""
        active = self.jobs.active
        self.jobs_progress.setVisible(bool(active))
        if not active:
            return
        fractions = [progress_fraction(r) for r in active]
        known = [f for f in fractions if f is not None and f >= 0]
        self.jobs_progress.setFormat(f"{len(active)} job(s): %p%" if len(known) == len(active) else "")
        self.jobs_progress.setRange(0, 1000 if len(known) == len(active) else 0)
        self.jobs_progress.setValue(int(sum(known) / len(active) * 1000))
        self.jobs_progress.setToolTip("\n".join(f"{r.name}: {status_text(r)}" for r in active))

    # -- drag and drop ------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        urls = event.mimeData().urls()
        web = len(urls) == 1 and urls[0].scheme() in ("http", "https")
        if urls and (web or all(url.isLocalFile() for url in urls)):
            event.acceptProposedAction()
            self.drop_hint.setGeometry(self.splitter.geometry())
            self.drop_hint.raise_()
            self.drop_hint.show()
        else:
            event.ignore()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.drop_hint.hide()

    def dropEvent(self, event: QDropEvent) -> None:
        self.drop_hint.hide()
        urls = event.mimeData().urls()
        if len(urls) == 1 and urls[0].scheme() in ("http", "https"):
            event.acceptProposedAction()
            self.open_fetch(urls[0].toString())
            return
        paths = [url.toLocalFile() for url in urls if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    # -- closing ------------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        active = len(self.jobs.active)
        if active and not self.confirm_close(active):
            event.ignore()
            return
        self.jobs.shutdown()
        self.settings.set_window_state("geometry", self.saveGeometry())
        self.settings.set_window_state("splitter", self.splitter.saveState())
        self.settings.sync()
        self._stop_hashing.set()
        self.runner.shutdown()
        super().closeEvent(event)
