"""The Raw tab: qemu-img's own JSON and the command lines that show the same."""

from __future__ import annotations

import json

from diskscope.gui.models.image_list import ImageEntry
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget


class RawPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(mono)
        self.commands = QPlainTextEdit()
        self.commands.setReadOnly(True)
        self.commands.setFont(mono)
        self.commands.setMaximumHeight(110)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("qemu-img info output:"))
        layout.addWidget(self.text)
        layout.addWidget(QLabel("The same from a shell:"))
        layout.addWidget(self.commands)

    def show_entry(self, entry: ImageEntry) -> None:
        if entry.pasted is not None:
            self.text.setPlainText(entry.pasted_text)
            self.commands.setPlainText("")
            return
        info = entry.info
        if info is not None:
            self.text.setPlainText(json.dumps(dict(info.raw), indent=4, ensure_ascii=False))
        elif entry.details is not None:
            self.text.setPlainText("(qemu-img did not open this file: it was refused)")
        else:
            self.text.setPlainText(entry.error)
        self.commands.setPlainText("\n".join(entry.details.commands) if entry.details else "")
