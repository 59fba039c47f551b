"""Images of a Glance endpoint, for the browser in the Fetch dialog."""

from __future__ import annotations

from typing import Any

from diskscope.core.glance import GlanceImage
from diskscope.core.sizes import exact_size, human_size
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt

SORT_ROLE = Qt.ItemDataRole.UserRole
Index = QModelIndex | QPersistentModelIndex


class GlanceImagesModel(QAbstractTableModel):
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

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._images)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

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
            return i.id
        return None
