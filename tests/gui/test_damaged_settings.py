"""A damaged number in the settings file (`cpu_seconds=abc`, written by hand or by another
program) reads as its default, not as 0, and the window says once which setting was reset.

QSettings alone reads `abc` as 0: qemu-img would then run with no CPU time and no memory,
and every inspection would fail."""

from __future__ import annotations

from pathlib import Path

import pytest
from diskscope.core.qemu.process import INSPECTION_LIMITS
from diskscope.gui.dialogs.settings_dialog import SettingsDialog
from diskscope.gui.main_window import MainWindow
from diskscope.gui.models.image_list import EntryState
from diskscope.gui.settings import Settings
from guikit import WAIT_MS, wait_idle
from imagekit import create
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

DAMAGED = "[qemu]\ncpu_seconds=abc\nmemory_mib=12x\n[jobs]\nconcurrent=0\n[fetch]\nverify_tls=maybe\n"


def _open(path: Path) -> Settings:
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The window's settings file, damaged before the window reads it."""
    (tmp_path / "settings.ini").write_text(DAMAGED)
    return _open(tmp_path / "settings.ini")


def _settings_dialog_notice(qtbot, window: MainWindow) -> str:  # type: ignore[no-untyped-def]
    """Open Settings from its action, read its notice, close it."""
    seen: list[str] = []

    def read_and_close() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        seen.append(dialog.notice.text() if dialog.notice.isVisibleTo(dialog) else "")
        dialog.reject()

    QTimer.singleShot(0, read_and_close)
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    return seen[0]


def test_the_window_resets_damaged_numbers_and_says_so_once(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    message = window.statusBar().toolTip()  # the whole message (the bar may elide it)
    assert message == (
        "These saved settings were damaged and are back to their defaults: CPU time per qemu-img "
        "call, Memory per qemu-img call, Jobs at once, Verify TLS certificates."
    )
    assert window.session.qemu is not None
    assert window.session.qemu.limits == INSPECTION_LIMITS
    assert window.jobs.limit == 2 and window.settings.verify_tls is True
    disk = create(tmp_path / "disk.qcow2", "qcow2", "16M")
    window.open_paths([str(disk)])
    wait_idle(qtbot, window)
    entry = window.current_entry()
    assert entry is not None and entry.state == EntryState.READY, entry.error if entry else None
    assert entry.details is not None and entry.details.report.safe, "qemu-img ran without its limits' room"

    assert _settings_dialog_notice(qtbot, window) == "", "said twice"
    window.settings.sync()
    text = (tmp_path / "settings.ini").read_text()
    assert "abc" not in text and "12x" not in text and "maybe" not in text
    assert _open(tmp_path / "settings.ini").take_reset_notice() == "", "the file is still damaged"


def test_the_settings_dialog_names_a_setting_damaged_while_the_window_ran(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.settings.store.setValue("jobs/concurrent", "abc")
    assert _settings_dialog_notice(qtbot, window) == (
        "The saved setting “Jobs at once” was damaged and is back to its default."
    )
    assert window.settings.concurrent_jobs == 2
    assert _settings_dialog_notice(qtbot, window) == ""
