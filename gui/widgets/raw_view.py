"""The Raw tab: qemu-img's own JSON and the command lines that show the same.

A refused image gets no command lines: they would have qemu-img open the very
file that our inspector refused, from a shell, without our safety checks.
"""

from __future__ import annotations

import json

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from ..models.image_list import ImageEntry


class RawPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(mono)
        self.text.setAccessibleName(self.tr("qemu-img info output"))
        self.commands = QPlainTextEdit()
        self.commands.setReadOnly(True)
        self.commands.setFont(mono)
        self.commands.setMaximumHeight(110)
        self.commands.setAccessibleName(self.tr("Equivalent shell commands"))
        self.commands_label = QLabel(self.tr("The same from a shell:"))
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel(self.tr("qemu-img info output:")))
        layout.addWidget(self.text)
        layout.addWidget(self.commands_label)
        layout.addWidget(self.commands)

    def show_entry(self, entry: ImageEntry) -> None:
        details = entry.details
        safe = details is not None and details.report.safe
        self.commands.setVisible(safe)
        self.commands_label.setVisible(safe)
        self.commands.setPlainText("\n".join(details.commands) if details and safe else "")
        if entry.pasted is not None:
            self.text.setPlainText(entry.pasted_text)
            return
        info = entry.info
        if info is not None:
            self.text.setPlainText(json.dumps(dict(info.raw), indent=4, ensure_ascii=False))
        elif details is not None:
            self.text.setPlainText(self.tr("(qemu-img did not open this file: it was refused)"))
        else:
            self.text.setPlainText(entry.error)
