"""GUI fixtures: a window with its own settings file, checked for leftovers at teardown,
and a watchdog that fails a test stuck behind a modal dialog nobody works."""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from diskscope.gui.main_window import MainWindow
from diskscope.gui.settings import Settings
from proc import child_pids
from PySide6.QtCore import QEvent, QObject, QSettings, QTimer
from PySide6.QtWidgets import QApplication, QDialog, QLabel, QMessageBox, QWidget

# Seconds a modal dialog may stay open with no key or mouse event reaching it; only to stop
# a hang (a message box the test did not expect waits for a click forever), never a measure.
MODAL_PATIENCE = float(os.environ.get("DISKSCOPE_MODAL_PATIENCE", "60"))
MODALS_CLOSED = pytest.StashKey[list[str]]()
INPUT_EVENTS = frozenset({QEvent.Type.KeyPress, QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings: Settings) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    before = child_pids()
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.runner.pending == 0
    assert child_pids() - before == set(), "a qemu-img process was left behind"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The samples go to the cache location: each test gets its own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


class ModalWatchdog(QObject):
    """Looks twice a second for a modal dialog; one that stays open MODAL_PATIENCE seconds
    with no input event reaching it is described, closed, and remembered in `closed`."""

    def __init__(self, patience: float) -> None:
        super().__init__()
        self.patience = patience
        self.closed: list[str] = []
        self.modal: QWidget | None = None
        self.since = 0.0
        self.timer = QTimer(self, interval=500)
        self.timer.timeout.connect(self.look)

    def look(self) -> None:
        modal = QApplication.activeModalWidget()
        if modal is not self.modal:
            self._watch(modal)
        elif modal is not None and time.monotonic() - self.since >= self.patience:
            self.close(modal)

    def close(self, modal: QWidget) -> None:
        self.closed.append(describe_modal(modal))
        self._watch(None)
        if isinstance(modal, QDialog):
            modal.reject()
        else:
            modal.close()

    def _watch(self, modal: QWidget | None) -> None:
        """Input counts only while a modal is open: the filter is installed just for then."""
        app = QApplication.instance()
        assert app is not None
        if modal is None:
            app.removeEventFilter(self)
        elif self.modal is None:
            app.installEventFilter(self)
        self.modal, self.since = modal, time.monotonic()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        modal = self.modal
        if (
            event.type() in INPUT_EVENTS
            and isinstance(watched, QWidget)
            and modal is not None
            and (watched is modal or modal.isAncestorOf(watched))
        ):
            self.since = time.monotonic()  # the test is working the dialog
        return False


def describe_modal(modal: QWidget) -> str:
    """What the dialog said: a message box's title and texts, else its title and labels."""
    if isinstance(modal, QMessageBox):
        parts = [modal.windowTitle(), modal.text(), modal.informativeText()]
    else:
        labels = [label.text() for label in modal.findChildren(QLabel) if label.isVisibleTo(modal)]
        parts = [f"{type(modal).__name__} {modal.windowTitle()!r}", *labels]
    return " | ".join(part for part in parts if part)


@pytest.fixture(autouse=True)
def modal_watchdog(qapp, request: pytest.FixtureRequest) -> Iterator[ModalWatchdog]:  # type: ignore[no-untyped-def]
    watchdog = ModalWatchdog(MODAL_PATIENCE)
    request.node.stash[MODALS_CLOSED] = watchdog.closed
    watchdog.timer.start()
    yield watchdog
    watchdog.timer.stop()
    qapp.removeEventFilter(watchdog)
    left_open = QApplication.activeModalWidget()
    if left_open is not None:  # closed here, or the next test would wait for it and be blamed
        watchdog.close(left_open)
        pytest.fail(f"a modal dialog was left open at the end of the test: {watchdog.closed[-1]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
    """A test whose modal dialog the watchdog had to close fails, with the dialog's words."""
    outcome = yield
    report = outcome.get_result()
    closed = item.stash.get(MODALS_CLOSED, [])
    if report.when == "call" and closed and not report.skipped:
        said = "\n".join(f"  {text}" for text in closed)
        reason = (
            f"a modal dialog stayed open {MODAL_PATIENCE:g} s with nobody working it; "
            f"the watchdog closed it. It said:\n{said}"
        )
        if report.failed:
            reason += f"\n\nThe test then failed:\n{report.longreprtext}"
        report.outcome, report.longrepr = "failed", reason
