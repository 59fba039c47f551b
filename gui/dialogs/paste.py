"""Paste the text of `qemu-img info` from another host and see it parsed."""

from __future__ import annotations

from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
    QWidget,
)

from ...core.qemu.image_info import ImageInfo
from ...core.qemu.info_text import parse_pasted_info
from ..palette import Tone, tone_color
from ..plain_text import PlainLabel


class PasteDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Paste qemu-img info output")
        self.info: ImageInfo | None = None
        self.edit = QPlainTextEdit()
        self.edit.setAccessibleName(self.tr("qemu-img info output"))
        self.edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.edit.setPlaceholderText("image: disk.qcow2\nfile format: qcow2\nvirtual size: …")
        self.error = PlainLabel()  # parse errors quote the pasted text
        self.error.setStyleSheet(f"color: {tone_color(Tone.REFUSED, self.palette()).name()}")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("The output of `qemu-img info IMAGE` (text, or --output=json):"))
        layout.addWidget(self.edit)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(640, 420)

    def accept(self) -> None:
        try:
            self.info = parse_pasted_info(self.edit.toPlainText())
        except ValueError as exc:
            self.error.setText(str(exc))
            return
        super().accept()
