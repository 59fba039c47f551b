"""Helpers for the GUI tests."""

from __future__ import annotations

from diskscope.gui.main_window import MainWindow
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import QWidget

WAIT_MS = 60_000  # only to stop a hang; never a measure of speed


def wait_idle(qtbot, win: MainWindow) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: win.runner.pending == 0, timeout=WAIT_MS)


def accessible_name(widget: QWidget) -> str:
    """What a screen reader announces: the accessible interface's name (a buddy label's text, too)."""
    interface = QAccessible.queryAccessibleInterface(widget)
    name = interface.text(QAccessible.Text.Name) if interface is not None else ""
    return name or widget.accessibleName()
