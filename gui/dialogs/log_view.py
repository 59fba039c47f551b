"""View > Log: the recent log lines, for when something went wrong."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QDialog, QPlainTextEdit, QVBoxLayout, QWidget

from ..logbuffer import LOG_BUFFER


class LogDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diskscope Log")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout = QVBoxLayout(self)
        layout.addWidget(self.text)
        self.resize(800, 400)
        self.refresh()

    def refresh(self) -> None:
        self.text.setPlainText(LOG_BUFFER.text())
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())
