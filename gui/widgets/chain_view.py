"""The Backing chain tab: every layer from the top image down to the base."""

from __future__ import annotations

from diskscope.core.chain import ChainLayer, LayerStatus
from diskscope.core.sizes import exact_size, human_size
from diskscope.gui.models.image_list import ImageEntry
from diskscope.gui.plain_text import PlainLabel
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

COLUMNS = ("Layer", "Link", "Format", "Virtual size", "On disk", "Status")
_STATUS_TEXT = {
    LayerStatus.OK: "ok",
    LayerStatus.MISSING: "missing",
    LayerStatus.LOOP: "loops back",
    LayerStatus.OUTSIDE: "outside the folder",
    LayerStatus.REFUSED: "refused",
}


class ChainPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.note = PlainLabel()  # it names the backing file
        self.note.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.tree)

    def show_entry(self, entry: ImageEntry) -> None:
        self.tree.clear()
        chain = entry.details.chain if entry.details else ()
        if chain:
            self.note.setText("From the top image down to the base. Each layer was inspected "
                              "before qemu-img opened it.")  # fmt: skip
            for layer in chain:
                self.tree.addTopLevelItem(_item(layer))
        elif entry.info and entry.info.backing_filename:
            self.note.setText(f"Backing file: {entry.info.backing_filename} (not opened).")
        else:
            self.note.setText("This image has no backing file: it stands alone.")
        for column in range(len(COLUMNS)):
            self.tree.resizeColumnToContents(column)

    def rows(self) -> list[list[str]]:
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [[item.text(c) for c in range(len(COLUMNS))] for item in items if item]


def _item(layer: ChainLayer) -> QTreeWidgetItem:
    info = layer.info
    status = _STATUS_TEXT[layer.status]
    if layer.message:
        status += f": {layer.message}"
    link = "(top image)" if layer.link is None else f"{layer.link} ({layer.link_kind})"
    item = QTreeWidgetItem(
        [
            str(layer.path),
            link,
            layer.format.value if layer.format else "—",
            human_size(info.virtual_size) if info else "—",
            human_size(info.actual_size) if info and info.actual_size is not None else "—",
            status,
        ]
    )
    if info:
        item.setToolTip(3, exact_size(info.virtual_size))
    if layer.status != LayerStatus.OK:
        for column in range(len(COLUMNS)):
            item.setForeground(column, QBrush(QColor("#b91c1c")))
    return item
