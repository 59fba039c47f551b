"""Our own toolbar icons: small SVGs drawn in the palette's text colour.

The SVGs in resources/ stroke with `currentColor`; each is rendered with the
palette's window-text colour (and the disabled text colour for the disabled
state), so that a dark theme gets light icons. Call `themed_icon` again after
a palette change.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPalette, QPixmap
from PySide6.QtSvg import QSvgRenderer

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICON_NAMES = ("open", "folder", "refresh", "convert", "fetch", "export", "check")
SIZES = (16, 22, 24, 32, 48)


def icon_path(name: str) -> Path:
    return RESOURCES / f"icon-{name}.svg"


def render_icon(name: str, color: QColor, size: int) -> QPixmap:
    """The icon `name` at `size` pixels, stroked in `color`."""
    svg = icon_path(name).read_text(encoding="utf-8").replace("currentColor", color.name())
    renderer = QSvgRenderer(QByteArray(svg.encode("utf-8")))
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    renderer.render(painter)
    painter.end()
    return pixmap


def themed_icon(name: str, palette: QPalette) -> QIcon:
    icon = QIcon()
    normal = palette.color(QPalette.ColorGroup.Active, QPalette.ColorRole.WindowText)
    disabled = palette.color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.WindowText)
    for size in SIZES:
        icon.addPixmap(render_icon(name, normal, size), QIcon.Mode.Normal)
        icon.addPixmap(render_icon(name, disabled, size), QIcon.Mode.Disabled)
    return icon
