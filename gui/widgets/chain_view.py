"""The Backing chain tab: every layer from the top image down to the base.

The Status column stretches (paths elide in the middle), and a layer's reason for refusal is
repeated under the table in full, so that it never hides behind a scroll bar.
"""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtGui import QBrush, QResizeEvent
from PySide6.QtWidgets import QHeaderView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ...core.chain import ChainLayer, LayerStatus
from ...core.sizes import exact_size, human_size
from ..models.image_list import ImageEntry
from ..palette import Tone, tone_color
from ..plain_text import PlainLabel

COLUMNS = ("Layer", "Link", "Format", "Virtual size", "On disk", "Status")
LAYER, LINK, FORMAT, VIRTUAL, ON_DISK, STATUS = range(len(COLUMNS))
_STATUS_TEXT = {
    LayerStatus.OK: "ok",
    LayerStatus.MISSING: "missing",
    LayerStatus.LOOP: "loops back",
    LayerStatus.OUTSIDE: "outside the folder",
    LayerStatus.REFUSED: "refused",
}


class ChainTree(QTreeWidget):
    """Paths and links share at most about half the width; Status takes the rest."""

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_columns()

    def fit_columns(self) -> None:
        header = self.header()
        for column in (FORMAT, VIRTUAL, ON_DISK):
            self.resizeColumnToContents(column)
        share = self.viewport().width() // 4
        for column in (LAYER, LINK):
            header.resizeSection(column, min(max(self.sizeHintForColumn(column), 80), share))


class ChainPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.note = PlainLabel()  # it names the backing file
        self.note.setWordWrap(True)
        self.tree = ChainTree()
        self.tree.setHeaderLabels([QCoreApplication.translate("ChainPanel", c) for c in COLUMNS])
        self.tree.setRootIsDecorated(False)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.tree.setAccessibleName(self.tr("Backing chain layers"))
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.reasons = PlainLabel()  # each refused layer's reason, in full
        self.reasons.setWordWrap(True)
        self.reasons.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse | Qt.TextInteractionFlag.TextSelectableByKeyboard
        )
        self.reasons.setAccessibleName(self.tr("Why a layer was refused"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.reasons)

    def show_entry(self, entry: ImageEntry) -> None:
        self.tree.clear()
        chain = entry.details.chain if entry.details else ()
        if chain:
            self.note.setText(self.tr("From the top image down to the base. Each layer was inspected "
                                      "before qemu-img opened it."))  # fmt: skip
            for layer in chain:
                self.tree.addTopLevelItem(self._item(layer))
        elif entry.info and entry.info.backing_filename:
            self.note.setText(self.tr("Backing file: {0} (not opened).").format(entry.info.backing_filename))
        else:
            self.note.setText(self.tr("This image has no backing file: it stands alone."))
        problems = [f"{layer.path}: {_status(layer)}" for layer in chain if layer.status != LayerStatus.OK]
        self.reasons.setText("\n".join(problems))
        self.reasons.setVisible(bool(problems))
        self.tree.fit_columns()

    def rows(self) -> list[list[str]]:
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [[item.text(c) for c in range(len(COLUMNS))] for item in items if item]

    def _item(self, layer: ChainLayer) -> QTreeWidgetItem:
        info = layer.info
        link = "(top image)" if layer.link is None else f"{layer.link} ({layer.link_kind})"
        item = QTreeWidgetItem(
            [
                str(layer.path),
                link,
                layer.format.value if layer.format else "—",
                human_size(info.virtual_size) if info else "—",
                human_size(info.actual_size) if info and info.actual_size is not None else "—",
                _status(layer),
            ]
        )
        item.setToolTip(LAYER, str(layer.path))
        item.setToolTip(LINK, link)
        item.setToolTip(STATUS, _status(layer))
        if info:
            item.setToolTip(VIRTUAL, exact_size(info.virtual_size))
        if layer.status != LayerStatus.OK:
            red = QBrush(tone_color(Tone.REFUSED, self.tree.palette()))
            for column in range(len(COLUMNS)):
                item.setForeground(column, red)
        return item


def _status(layer: ChainLayer) -> str:
    status = _STATUS_TEXT[layer.status]
    return f"{status}: {layer.message}" if layer.message else status
