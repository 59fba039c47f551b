"""A status bar whose messages end in "…" before the permanent widgets, never under them.

The full message stays in the tooltip. Callers use `showMessage` as on any QStatusBar.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QStatusBar, QWidget

GAP = 16  # pixels between a message and the qemu-img version


class MessageBar(QStatusBar):
    def __init__(self) -> None:
        super().__init__()
        self.permanent: list[QWidget] = []
        self.messageChanged.connect(self._message_changed)

    def addPermanentWidget(self, widget: QWidget, stretch: int | None = 0) -> None:
        self.permanent.append(widget)
        super().addPermanentWidget(widget, stretch or 0)

    def showMessage(self, text: str, timeout: int | None = 0) -> None:
        self.setToolTip(text)
        elided = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, self.message_room())
        super().showMessage(elided, timeout or 0)

    def message_room(self) -> int:
        """The width left of the leftmost visible permanent widget."""
        lefts = [w.x() for w in self.permanent if w.isVisible()]
        return max(40, (min(lefts) if lefts else self.width()) - GAP)

    @Slot(str)
    def _message_changed(self, text: str) -> None:
        if not text:
            self.setToolTip("")  # the message timed out: no stale tooltip
