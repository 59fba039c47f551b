"""The "Drop to open" overlay: it hides what is beneath, with a dashed border.

Painted by hand: the text sits on a nearly opaque window-coloured fill, so it
never overlaps the empty state's text, and the border is the palette's
highlight colour, dashed.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget

BORDER = 3


class DropOverlay(QWidget):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.text = self.tr("Drop to open")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.hide()

    def paintEvent(self, event: QPaintEvent) -> None:
        palette = self.palette()
        painter = QPainter(self)
        fill = QColor(palette.color(QPalette.ColorRole.Window))
        fill.setAlpha(240)
        painter.fillRect(self.rect(), fill)
        pen = QPen(palette.color(QPalette.ColorRole.Highlight), BORDER, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        inset = BORDER / 2 + 4
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(inset, inset, -inset, -inset), 12, 12)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        painter.setFont(font)
        painter.setPen(palette.color(QPalette.ColorRole.WindowText))
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self.text)
        painter.end()
