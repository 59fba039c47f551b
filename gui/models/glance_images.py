"""Images of a Glance endpoint, for the browser in the Fetch dialog."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor

from ...core.cloud.glance import GlanceImage
from ...core.sizes import exact_size, human_size
from ..plain_text import plain_tooltip
from .table import SORT_ROLE, HeaderTableModel, Index

FETCHABLE = "active"  # a queued, saving or killed image has no data to fetch


class GlanceImagesModel(HeaderTableModel):
    NAME, ID, STATUS, FORMAT, SIZE, VIRTUAL, VISIBILITY, UPDATED = range(8)
    HEADERS = ("Name", "ID", "Status", "Disk format", "Size", "Virtual size", "Visibility", "Updated")

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

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Only an active image can be picked: the others have no data to download."""
        if not index.isValid() or self._images[index.row()].status != FETCHABLE:
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        i = self._images[index.row()]
        column = index.column()
        values = (i.name or i.id, i.id, i.status, i.disk_format or "", i.size, i.virtual_size,
                  i.visibility or "", i.updated_at or "")  # fmt: skip
        value = values[column]
        if role == Qt.ItemDataRole.ForegroundRole and i.status != FETCHABLE:
            return QColor("#9ca3af")
        if role == Qt.ItemDataRole.DisplayRole:
            if column in (self.SIZE, self.VIRTUAL):
                return "" if value is None else human_size(value)  # type: ignore[arg-type]
            return value
        if role == SORT_ROLE:
            return -1 if value is None else value
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (self.SIZE, self.VIRTUAL) and value is not None:
                return exact_size(value)  # type: ignore[arg-type]
            if i.status != FETCHABLE:
                return plain_tooltip(f"{i.id}: {i.status}, no data to fetch yet")
            return plain_tooltip(i.id)
        return None
