"""What the window shows before any image is open: every way in, and a drop target.

Each button triggers the window's own QAction, so it does exactly what the
menu item and the shortcut do, and is enabled when they are.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class EmptyState(QWidget):
    def __init__(self) -> None:
        super().__init__()
        title = QLabel(self.tr("<h2>Open a disk image</h2>"))
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint = QLabel(
            self.tr(
                "Drop qcow2, VMDK, VHD, VHDX, VDI, raw or ISO files here, or a folder of them, "
                "or a URL to fetch. Each is checked before qemu-img opens it."
            )
        )
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        hint.setWordWrap(True)
        self.buttons: dict[str, QPushButton] = {}
        self.grid = grid = QGridLayout()
        layout = QVBoxLayout(self)
        layout.addStretch()
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addLayout(grid)
        layout.setAlignment(grid, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch()
        self.setObjectName("emptyState")
        self.setStyleSheet("QWidget#emptyState { border: 2px dashed palette(mid); border-radius: 12px; }")

    def set_actions(self, actions: list[QAction]) -> None:
        """One button per action, two a row, in the order given."""
        for i, action in enumerate(actions):
            self.grid.addWidget(self._button(action), i // 2, i % 2)

    def _button(self, action: QAction) -> QPushButton:
        text = action.text().replace("&", "").replace("…", "")
        shortcut = action.shortcut().toString(action.shortcut().SequenceFormat.NativeText)
        button = QPushButton(action.icon(), action.text())
        button.setToolTip(f"{action.toolTip()} ({shortcut})" if shortcut else action.toolTip())
        button.setAccessibleName(text)
        button.setMinimumWidth(200)
        button.setEnabled(action.isEnabled())
        button.clicked.connect(action.trigger)
        action.enabledChanged.connect(button.setEnabled)
        action.changed.connect(lambda: button.setIcon(action.icon()))
        self.buttons[text] = button
        return button
