"""The Snapshots tab: a sortable, filterable, copyable table."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTableView, QVBoxLayout, QWidget

from ...core.qemu.image_info import Snapshot
from ..models.snapshots import SnapshotTableModel
from ..models.table import filter_proxy


class SnapshotsPanel(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.model = SnapshotTableModel()
        self.proxy = filter_proxy(self.model, self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText(self.tr("Filter snapshots (Ctrl+F)"))
        self.filter.setAccessibleName(self.tr("Snapshot filter"))
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(SnapshotTableModel.ID, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAccessibleName(self.tr("Snapshots"))
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)

    def set_snapshots(self, snapshots: tuple[Snapshot, ...]) -> None:
        self.model.set_snapshots(snapshots)
        self.table.resizeColumnsToContents()

    def focus_filter(self) -> None:
        self.filter.setFocus()
        self.filter.selectAll()

    def selected_text(self) -> str:
        """The selected rows (or all visible ones) as tab-separated text."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedIndexes()})
        if not rows:
            rows = list(range(self.proxy.rowCount()))
        lines = ["\t".join(SnapshotTableModel.HEADERS)]
        for row in rows:
            cells = [str(self.proxy.index(row, c).data()) for c in range(self.proxy.columnCount())]
            lines.append("\t".join(cells))
        return "\n".join(lines)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.selected_text())

    def keyPressEvent(self, event) -> None:  # type: ignore[no-untyped-def]
        if event.matches(QKeySequence.StandardKey.Copy):
            self.copy()
        else:
            super().keyPressEvent(event)
