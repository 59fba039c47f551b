"""The Diskscope main window: the image list on the left, the selected image on the right."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, Qt, QUrl, Slot
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
    QFrame,
    QHeaderView,
    QMainWindow,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTreeView,
    QWidget,
)

from ..core.errors import DiskscopeError
from ..core.qemu.image_info import ImageInfo
from ..core.qemu.qemu_img import QemuImg
from ..core.qemu.results import CheckResult
from .actions import apply_icons, build_actions
from .dialogs.about import show_about
from .dialogs.log_view import LogDialog
from .dialogs.paste import PasteDialog
from .dialogs.settings_dialog import SettingsDialog
from .exporter import Exporter
from .inspections import Inspections, expand_paths
from .job_launcher import JobLauncher, ask_to_cancel_jobs
from .jobs import JobManager
from .models.image_list import EntryState, ImageEntry, ImageListModel
from .plain_text import PlainLabel, warn
from .samples import make_samples, samples_folder
from .session import Session
from .settings import Settings
from .widgets.allocation_map import AllocationPanel
from .widgets.chain_view import ChainPanel
from .widgets.drop_overlay import DropOverlay
from .widgets.empty_state import EmptyState
from .widgets.integrity import IntegrityPanel
from .widgets.jobs_panel import JobsPanel
from .widgets.jobs_progress import JobsProgress
from .widgets.overview import OverviewPanel
from .widgets.raw_view import RawPanel
from .widgets.snapshots_panel import SnapshotsPanel
from .widgets.status_bar import MessageBar
from .workers import TaskRunner

ICON = Path(__file__).resolve().parent.parent / "resources" / "diskscope.svg"


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
        self.session = Session()
        self.runner = TaskRunner(settings.parallel_inspections, self)
        self.runner.busy_changed.connect(self._busy_changed)
        self.inspections = Inspections(self.session, settings, self.runner, self)
        self.jobs = JobManager(settings.concurrent_jobs, self)
        self.launcher = JobLauncher(self, settings, self.session, self.runner, self.jobs, self.current_entry)
        self.exporter = Exporter(self, self.current_entry)
        self.confirm_close: Callable[[int], bool] = partial(ask_to_cancel_jobs, self)
        self.model = self.session.images
        self._build_list()
        self._build_tabs()
        self._build_layout()
        self._build_status_bar()
        self._build_actions()
        self._connect_parts()
        self._set_up_keyboard_and_looks()
        self.reload_qemu()
        self._restore_state()
        self._update_view()
        notice = settings.take_reset_notice()
        if notice:
            self.statusBar().showMessage(notice)

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
        # The Overview scrolls: squeezed (the Jobs dock opens below it), its word-wrapped facts
        # would otherwise overlap, as no minimum height reaches the window through them.
        overview = QScrollArea()
        overview.setWidget(self.overview)
        overview.setWidgetResizable(True)
        overview.setFrameShape(QFrame.Shape.NoFrame)
        overview.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        overview.viewport().setAutoFillBackground(False)  # the tab's own background, as elsewhere
        self.overview.setAutoFillBackground(False)  # which setWidget turned on
        self.tabs = QTabWidget()
        for widget, name in (
            (overview, "Overview"),
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
        self.jobs_progress = JobsProgress(self.jobs)
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

    def _connect_parts(self) -> None:
        """What the inspections and the jobs report, to the widgets that show it."""
        self.inspections.row_changed.connect(self._show_row)
        self.inspections.message.connect(self.statusBar().showMessage)
        self.inspections.checked.connect(self._checked)
        self.inspections.check_failed.connect(self._check_failed)
        self.launcher.started.connect(self._job_started)
        self.jobs_panel.inspect_requested.connect(self._inspect_result)
        self.jobs_panel.browse_requested.connect(self.launcher.browse_upload)

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
        session = self.session
        try:
            session.qemu = QemuImg(self.settings.qemu_img_path or None, self.settings.limits())
            self.qemu_label.setText(f"qemu-img {session.qemu.version}")
            session.qemu_error = ""
        except DiskscopeError as exc:
            session.qemu, session.qemu_error = None, str(exc)
            self.qemu_label.setText("qemu-img missing")
            self.statusBar().showMessage(session.qemu_error)
        self.runner.limit = self.settings.parallel_inspections
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
        self._select_row(self.inspections.open(files))
        self._update_view()

    @Slot(int)
    def _show_row(self, row: int) -> None:
        """Show the entry at `row` again if it is the selected one."""
        if row == self.list.currentIndex().row():
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
            "Disk images (*.qcow2 *.qcow *.img *.raw *.vmdk *.vhd *.vhdx *.vdi *.iso *.luks *.ova *.ovf);;"
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
        if self.session.qemu is None:
            warn(self, self.session.qemu_error)
            return
        self.samples_action.setEnabled(False)
        self.statusBar().showMessage("Creating the sample images…")
        self.runner.submit(
            partial(make_samples, self.session.qemu, samples_folder()),
            self._samples_made,
            self._samples_failed,
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
        if self.session.qemu is None:
            return
        self.tabs.setCurrentWidget(self.integrity)
        self.integrity.show_running()
        self.inspections.check(entry.key, entry.details)

    @Slot(str, object)
    def _checked(self, key: str, result: CheckResult) -> None:
        current = self.current_entry()
        if current is not None and current.key == key:
            self.integrity.show_result(result)

    @Slot(str, str)
    def _check_failed(self, key: str, message: str) -> None:
        current = self.current_entry()
        if current is not None and current.key == key:
            self.integrity.show_error(message)

    # -- jobs ---------------------------------------------------------------------------------

    @Slot(int)
    def _job_started(self, job_id: int) -> None:
        self.jobs_dock.show()
        self.jobs_panel.select(job_id)

    @Slot(str)
    def _inspect_result(self, path: str) -> None:
        self.open_paths([path])

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
        qemu = self.session.qemu
        show_about(self, qemu.version if qemu else "not found")

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
            self.launcher.open_fetch(urls[0].toString())
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
        self.inspections.stop()
        self.runner.shutdown()
        super().closeEvent(event)
