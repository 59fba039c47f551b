"""Helpers for the GUI tests."""

from __future__ import annotations

from pathlib import Path

from diskscope.gui.main_window import MainWindow
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAccessible, QDropEvent
from PySide6.QtWidgets import QWidget

WAIT_MS = 60_000  # only to stop a hang; never a measure of speed


def wait_idle(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: win.runner.pending == 0, timeout=WAIT_MS)


def accessible_name(widget: QWidget) -> str:
    """What a screen reader announces: the accessible interface's name (a buddy label's text, too)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    name = interface.text(QAccessible.Text.Name) if interface is not None else ""
    return name or widget.accessibleName()


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
