"""Labels, message boxes and tooltips that show untrusted text as text, never as HTML.

Qt renders a label, a message box or a tooltip as rich text whenever the text looks
like HTML. File, backing and Glance names and server messages are chosen by others:
a file named `<b>x</b>.qcow2` would show in bold, and markup could make a window show
words that are not in the name at all.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget


class PlainLabel(QLabel):
    """A QLabel whose text is always plain text."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setText(text)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows `text` literally (tooltips have no plain-text switch)."""
    return GuiQt.convertFromPlainText(text) if text else ""


def warn(parent: QWidget | None, text: str, title: str = "Diskscope") -> None:
    """A modal warning whose text is shown as plain text."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.exec()
