"""Every field of a dialog has a name a screen reader can announce (issue 12)."""

from __future__ import annotations

from pathlib import Path

import pytest
from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.dialogs.fetch_dialog import FetchDialog
from diskscope.gui.dialogs.paste import PasteDialog
from diskscope.gui.dialogs.settings_dialog import SettingsDialog
from diskscope.gui.main_window import MainWindow
from guikit import accessible_name, wait_idle
from imagekit import create
from PySide6.QtWidgets import QApplication, QDialog, QWidget


def _stops(qtbot, dialog: QDialog) -> list[QWidget]:  # type: ignore[no-untyped-def]
    dialog.show()
    dialog.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is dialog)
    first = QApplication.focusWidget()
    assert first is not None
    stops = [first]
    for _ in range(80):
        dialog.focusNextChild()
        focus = QApplication.focusWidget()
        assert focus is not None
        if focus is first:
            return stops
        stops.append(focus)
    raise AssertionError("Tab never came round")


def _dialog(kind: str, window: MainWindow, image: Path) -> QDialog:
    if kind == "paste":
        return PasteDialog(window)
    if kind == "settings":
        return SettingsDialog(window.settings, window)
    if kind == "fetch":
        return FetchDialog(window.settings, window.runner, "", window)
    entry = window.current_entry()
    assert entry is not None and entry.details is not None and window.session.qemu is not None
    return ConvertDialog(entry.details.report, window.session.qemu, window.runner, True, window)


@pytest.mark.parametrize("kind", ["paste", "settings", "convert", "fetch"])
def test_every_dialog_field_has_an_accessible_name(
    qtbot, window: MainWindow, tmp_path: Path, kind: str
) -> None:  # type: ignore[no-untyped-def]
    image = create(tmp_path / "disk.qcow2", "qcow2", "1M")
    window.open_paths([str(image)])
    wait_idle(qtbot, window)
    dialog = _dialog(kind, window, image)
    try:
        stops = _stops(qtbot, dialog)
        unnamed = [type(w).__name__ for w in stops if not accessible_name(w).strip()]
        assert unnamed == []
    finally:
        dialog.reject()
        wait_idle(qtbot, window)
