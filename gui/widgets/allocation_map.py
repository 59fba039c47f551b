"""The Allocation tab: a painted strip of the virtual disk.

Extents are aggregated into one bucket per pixel column before painting, so a
1 TiB disk with millions of extents costs no more to draw than a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

from diskscope.core.qemu_img import MapExtent
from diskscope.core.report_text import allocation_totals, extent_kind
from diskscope.core.sizes import human_size, size_with_exact
from diskscope.gui.models.image_list import ImageEntry
from diskscope.gui.plain_text import PlainLabel
from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolTip, QVBoxLayout, QWidget

LAYER_COLORS = ("#2563eb", "#9333ea", "#ea580c", "#0d9488", "#ca8a04")
ZERO_COLOR = "#86efac"
UNALLOCATED_COLOR = "#d1d5db"


@dataclass
class Bucket:
    start: int
    end: int
    data: dict[int, int]  # bytes of data by chain depth
    zero: int = 0
    unallocated: int = 0


def aggregate(extents: tuple[MapExtent, ...], size: int, count: int) -> list[Bucket]:
    """`count` equal buckets over [0, size), with the bytes of each kind that fall in each.

    qemu-img map gives sorted, non-overlapping extents, so the work is linear in
    the number of extents plus the number of buckets.
    """
    count = max(1, min(count, size)) if size else 1
    edges = [size * i // count for i in range(count + 1)]
    buckets = [Bucket(edges[i], edges[i + 1], {}) for i in range(count)]
    for e in extents:
        start, end = e.start, min(e.start + e.length, size)
        i = min(count - 1, start * count // size) if size else 0
        while i > 0 and edges[i] > start:
            i -= 1
        while i < count and edges[i] < end:
            overlap = min(end, edges[i + 1]) - max(start, edges[i])
            if overlap > 0:
                bucket = buckets[i]
                kind = extent_kind(e)
                if kind == "data":
                    bucket.data[e.depth] = bucket.data.get(e.depth, 0) + overlap
                elif kind == "zero":
                    bucket.zero += overlap
                else:
                    bucket.unallocated += overlap
            i += 1
    return buckets


class AllocationStrip(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)
        self.setMinimumHeight(48)
        self.extents: tuple[MapExtent, ...] = ()
        self.disk_size = 0
        self._buckets: list[Bucket] = []

    def sizeHint(self) -> QSize:
        return QSize(600, 64)

    def set_map(self, extents: tuple[MapExtent, ...], size: int) -> None:
        self.extents, self.disk_size = extents, size
        self._buckets = []
        self.update()

    def buckets(self) -> list[Bucket]:
        if not self._buckets or len(self._buckets) != max(1, min(self.width(), self.disk_size or 1)):
            self._buckets = aggregate(self.extents, self.disk_size, self.width())
        return self._buckets

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(UNALLOCATED_COLOR))
        if not self.disk_size:
            return
        height = self.height()
        buckets = self.buckets()
        width = self.width() / len(buckets)
        for i, bucket in enumerate(buckets):
            span = max(1, bucket.end - bucket.start)
            x = int(i * width)
            w = max(1, int((i + 1) * width) - x)
            y = height
            for depth, amount in sorted(bucket.data.items()):
                h = round(height * amount / span)
                painter.fillRect(QRect(x, y - h, w, h), QColor(layer_color(depth)))
                y -= h
            h = round(height * bucket.zero / span)
            painter.fillRect(QRect(x, y - h, w, h), QColor(ZERO_COLOR))
        painter.end()

    def describe(self, x: int) -> str:
        buckets = self.buckets()
        if not buckets or not self.disk_size:
            return ""
        bucket = buckets[min(len(buckets) - 1, max(0, x * len(buckets) // max(1, self.width())))]
        parts = [f"{human_size(bucket.start)} to {human_size(bucket.end)}"]
        for depth, amount in sorted(bucket.data.items()):
            parts.append(f"data from {layer_name(depth)}: {human_size(amount)}")
        if bucket.zero:
            parts.append(f"reads as zeros: {human_size(bucket.zero)}")
        if bucket.unallocated:
            parts.append(f"unallocated: {human_size(bucket.unallocated)}")
        return "\n".join(parts)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        text = self.describe(int(event.position().x()))
        QToolTip.showText(self.mapToGlobal(QPoint(int(event.position().x()), 0)), text, self)


def layer_color(depth: int) -> str:
    return LAYER_COLORS[depth % len(LAYER_COLORS)]


def layer_name(depth: int) -> str:
    return "this image" if depth == 0 else f"backing layer {depth}"


def _swatch(color: str, text: str) -> QLabel:
    label = QLabel(f'<span style="color:{color}">■</span> {text}')
    return label


class AllocationPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.note = PlainLabel()
        self.note.setWordWrap(True)
        self.strip = AllocationStrip()
        self.legend = QHBoxLayout()
        self.totals = PlainLabel()
        self.totals.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.strip)
        layout.addLayout(self.legend)
        layout.addWidget(self.totals)
        layout.addStretch()

    def show_entry(self, entry: ImageEntry) -> None:
        details = entry.details
        extents = details.extents if details else ()
        size = entry.virtual_size or 0
        self.strip.set_map(extents, size)
        while self.legend.count():
            item = self.legend.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        depths = sorted({e.depth for e in extents if e.data})
        for depth in depths or [0]:
            self.legend.addWidget(_swatch(layer_color(depth), f"data ({layer_name(depth)})"))
        self.legend.addWidget(_swatch(ZERO_COLOR, "zeros"))
        self.legend.addWidget(_swatch(UNALLOCATED_COLOR, "unallocated"))
        self.legend.addStretch()
        if details is None:
            self.note.setText("No allocation map for pasted text.")
        else:
            self.note.setText(details.map_note or "Hover over the strip to see each range.")
        totals = allocation_totals(extents)
        self.totals.setText(
            "  ·  ".join(f"{kind}: {size_with_exact(n)}" for kind, n in totals.items()) if extents else ""
        )
