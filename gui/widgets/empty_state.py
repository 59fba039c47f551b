"""What the window shows before any image is open: a drop target and the samples."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    open_requested = Signal()
    samples_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        title = QLabel("<h2>Drop disk images here</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            "qcow2, VMDK, VHD, VHDX, VDI, raw or ISO files, or a folder of them. "
            "Each is checked before qemu-img opens it."
        )
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        self.open_button = QPushButton("Open image…")
        self.open_button.clicked.connect(self.open_requested)
        self.samples_button = QPushButton("Open sample images")
        self.samples_button.setToolTip("Create a few small images in a temporary folder, one of them unsafe")
        self.samples_button.clicked.connect(self.samples_requested)
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(title)
        layout.addWidget(hint)
        for button in (self.open_button, self.samples_button):
            button.setMinimumWidth(220)
            layout.addWidget(button, alignment=Qt.AlignmentFlag.AlignCenter)
        layout.addStretch()
        self.setObjectName("emptyState")
        self.setStyleSheet("QWidget#emptyState { border: 2px dashed palette(mid); border-radius: 12px; }")
