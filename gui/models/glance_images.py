"""Images of a Glance endpoint, for the browser in the Fetch dialog."""

from __future__ import annotations

from typing import Any

from diskscope.core.glance import GlanceImage
from diskscope.core.sizes import exact_size, human_size
from diskscope.gui.models.table import SORT_ROLE, HeaderTableModel, Index
from diskscope.gui.plain_text import plain_tooltip
from PySide6.QtCore import Qt


class GlanceImagesModel(HeaderTableModel):
    NAME, STATUS, FORMAT, SIZE, VIRTUAL, VISIBILITY, UPDATED = range(7)
    HEADERS = ("Name", "Status", "Disk format", "Size", "Virtual size", "Visibility", "Updated")

    def __init__(self) -> None:
        super().__init__()
        self._images: list[GlanceImage] = []

    def set_images(self, images: list[GlanceImage]) -> None:
        self.beginResetModel()
        self._images = list(images)
        self.endResetModel()

    def image(self, row: int) -> GlanceImage:
        return self._images[row]

    def row_count(self) -> int:
        return len(self._images)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        i = self._images[index.row()]
        column = index.column()
        values = (i.name or i.id, i.status, i.disk_format or "", i.size, i.virtual_size,
                  i.visibility or "", i.updated_at or "")  # fmt: skip
        value = values[column]
        if role == Qt.ItemDataRole.DisplayRole:
            if column in (self.SIZE, self.VIRTUAL):
                return "" if value is None else human_size(value)  # type: ignore[arg-type]
            return value
        if role == SORT_ROLE:
            return -1 if value is None else value
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (self.SIZE, self.VIRTUAL) and value is not None:
                return exact_size(value)  # type: ignore[arg-type]
            return plain_tooltip(i.id)
        return None
