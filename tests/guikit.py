"""Helpers for the GUI tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from diskscope.gui.main_window import MainWindow
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QAccessible, QDropEvent
from PySide6.QtWidgets import QApplication, QDialog, QWidget

WAIT_MS = 60_000  # only to stop a hang; never a measure of speed


def wait_idle(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: win.runner.pending == 0, timeout=WAIT_MS)


def accessible_name(widget: QWidget) -> str:
    """What a screen reader announces: the accessible interface's name (a buddy label's text, too)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    name = interface.text(QAccessible.Text.Name) if interface is not None else ""
    return name or widget.accessibleName()


def when_modal(kind: type[QDialog], act: Callable[[QDialog], bool]) -> QTimer:
    """Every 50 ms: if a `kind` dialog is the modal one, `act` on it (True: done)."""
    timer = QTimer()

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind) and act(dialog):
            timer.stop()

    timer.timeout.connect(poll)
    timer.start(50)
    return timer


def drop(qtbot, window: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    """Drop a file on the window, as a file manager does, and wait for its inspection."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(
        QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    window.dropEvent(event)
    wait_idle(qtbot, window)
