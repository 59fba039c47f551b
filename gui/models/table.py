"""What every table model here shares: the header, the counts, a sorting filter proxy."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)

SORT_ROLE = Qt.ItemDataRole.UserRole
Index = QModelIndex | QPersistentModelIndex


class HeaderTableModel(QAbstractTableModel):
    """A flat table with fixed columns; subclasses give HEADERS, `row_count` and `data`."""

    HEADERS: tuple[str, ...] = ()

    def row_count(self) -> int:
        raise NotImplementedError

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.row_count()

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None


class SourceSortedProxy(QSortFilterProxyModel):
    """Filters here but lets the source model sort itself (for models that can do it fast)."""

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self.sourceModel().sort(column, order)


def filter_proxy(model: QAbstractTableModel, parent: QObject) -> QSortFilterProxyModel:
    """Sorts by SORT_ROLE (numbers as numbers), or in the model where it sorts itself, and
    filters on every column, ignoring case."""
    sorts_itself = type(model).sort is not QAbstractTableModel.sort
    proxy = SourceSortedProxy(parent) if sorts_itself else QSortFilterProxyModel(parent)
    proxy.setSourceModel(model)
    proxy.setSortRole(SORT_ROLE)
    proxy.setFilterKeyColumn(-1)
    proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
    return proxy
