"""The Allocation tab: a painted strip of the virtual disk, and the same as text.

Extents are aggregated into one bucket per pixel column before painting, so a
1 TiB disk with millions of extents costs no more to draw than a small one.
The strip takes the keyboard focus: Left and Right (Home, End) step through
the ranges, which the table below lists in words for keyboards and screen
readers; the mouse's hover tooltip says the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QToolTip,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.qemu.results import MapExtent
from ...core.report.terminal import allocation_totals, extent_kind
from ...core.sizes import human_size, size_with_exact
from ..models.image_list import EntryState, ImageEntry
from ..plain_text import PlainLabel

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


@dataclass(frozen=True)
class Run:
    """Neighbouring extents of the same kind (and, for data, the same layer) as one range."""

    start: int
    end: int
    kind: str  # data, zero or unallocated
    depth: int

    def contents(self) -> str:
        return {"data": f"data from {layer_name(self.depth)}", "zero": "reads as zeros"}.get(
            self.kind, "unallocated"
        )

    def describe(self) -> str:
        size = human_size(self.end - self.start)
        return f"{human_size(self.start)} to {human_size(self.end)}: {self.contents()} ({size})"


def runs(extents: tuple[MapExtent, ...]) -> list[Run]:
    result: list[Run] = []
    for e in extents:
        kind = extent_kind(e)
        depth = e.depth if kind == "data" else 0
        last = result[-1] if result else None
        if last is not None and last.kind == kind and last.depth == depth and last.end == e.start:
            result[-1] = Run(last.start, e.start + e.length, kind, depth)
        else:
            result.append(Run(e.start, e.start + e.length, kind, depth))
    return result


class AllocationStrip(QWidget):
    range_selected = Signal(int)  # an index into `runs`, chosen with the keyboard

    def __init__(self) -> None:
        super().__init__()
        self.setMouseTracking(True)
        self.setMinimumHeight(48)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAccessibleName(self.tr("Allocation strip"))
        self.extents: tuple[MapExtent, ...] = ()
        self.runs: list[Run] = []
        self.selected = -1
        self.disk_size = 0
        self._buckets: list[Bucket] = []

    def sizeHint(self) -> QSize:
        return QSize(600, 64)

    def set_map(self, extents: tuple[MapExtent, ...], size: int) -> None:
        self.extents, self.disk_size = extents, size
        self.runs = runs(extents)
        self.selected = -1
        self._buckets = []
        self.update()

    def select(self, index: int) -> None:
        if not self.runs:
            return
        self.selected = max(0, min(index, len(self.runs) - 1))
        self.setAccessibleDescription(self.runs[self.selected].describe())
        self.update()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        steps = {Qt.Key.Key_Left: self.selected - 1, Qt.Key.Key_Right: self.selected + 1,
                 Qt.Key.Key_Home: 0, Qt.Key.Key_End: len(self.runs) - 1}  # fmt: skip
        target = steps.get(Qt.Key(event.key()))
        if target is None or not self.runs:
            super().keyPressEvent(event)
            return
        self.select(max(0, target))
        self.range_selected.emit(self.selected)

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
        if 0 <= self.selected < len(self.runs):
            self._mark(painter, self.runs[self.selected])
        painter.end()

    def _mark(self, painter: QPainter, run: Run) -> None:
        """Outline the selected range, at least a few pixels wide so a tiny range shows."""
        x0 = int(self.width() * run.start / self.disk_size)
        x1 = max(x0 + 4, int(self.width() * run.end / self.disk_size))
        pen = QPen(self.palette().color(QPalette.ColorRole.Highlight), 3)
        painter.setPen(pen)
        painter.drawRect(QRect(x0 + 1, 1, max(2, x1 - x0 - 2), self.height() - 3))

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


MAX_ROWS = 2000  # the table lists this many ranges; the strip and totals cover all


class AllocationPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.note = PlainLabel()
        self.note.setWordWrap(True)
        self.strip = AllocationStrip()
        self.legend = QHBoxLayout()
        self.totals = PlainLabel()
        self.totals.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.totals.setAccessibleName(self.tr("Allocation summary"))
        self.table = QTreeWidget()
        self.table.setHeaderLabels([self.tr("From"), self.tr("To"), self.tr("Length"), self.tr("Contents")])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAccessibleName(self.tr("Allocated ranges"))
        self.table.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.currentItemChanged.connect(self._row_changed)
        self.strip.range_selected.connect(self._strip_moved)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.strip)
        layout.addLayout(self.legend)
        layout.addWidget(self.totals)
        layout.addWidget(self.table, 1)

    def summary(self) -> str:
        return self.totals.text()

    def _strip_moved(self, index: int) -> None:
        item = self.table.topLevelItem(index)
        if item is not None:  # beyond MAX_ROWS the strip alone shows the range
            self.table.setCurrentItem(item)

    def _row_changed(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        if item is not None:
            self.strip.select(self.table.indexOfTopLevelItem(item))

    def _fill_table(self) -> None:
        self.table.clear()
        items = []
        for run in self.strip.runs[:MAX_ROWS]:
            item = QTreeWidgetItem(
                [human_size(run.start), human_size(run.end), human_size(run.end - run.start), run.contents()]
            )
            for column, n in enumerate((run.start, run.end, run.end - run.start)):
                item.setToolTip(column, size_with_exact(n))
            items.append(item)
        self.table.addTopLevelItems(items)

    def _no_map_note(self, entry: ImageEntry) -> str:
        if entry.appliance is not None:
            return self.tr("An appliance has no allocation map of its own: Image > Convert writes "
                           "its disks out, and each one opened shows its map.")  # fmt: skip
        if entry.state == EntryState.PASTED:
            return self.tr("No allocation map for pasted text.")
        return self.tr("There is no allocation map for this file.")

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
            text = self.tr("data ({0})").format(layer_name(depth))
            self.legend.addWidget(_swatch(layer_color(depth), text))
        self.legend.addWidget(_swatch(ZERO_COLOR, self.tr("zeros")))
        self.legend.addWidget(_swatch(UNALLOCATED_COLOR, self.tr("unallocated")))
        self.legend.addStretch()
        if details is None:
            self.note.setText(self._no_map_note(entry))
        else:
            self.note.setText(
                details.map_note
                or self.tr("Each range is listed below; on the strip, hover or use the arrow keys.")
            )
        totals = allocation_totals(extents)
        self.totals.setText(
            "  ·  ".join(f"{kind}: {size_with_exact(n)}" for kind, n in totals.items()) if extents else ""
        )
        self.strip.setAccessibleDescription(self.totals.text())
        self._fill_table()
        count = len(self.strip.runs)
        if count > MAX_ROWS:
            self.note.setText(self.tr("The table lists the first {0} of {1} ranges.").format(MAX_ROWS, count))
