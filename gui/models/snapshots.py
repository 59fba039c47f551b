"""Internal snapshots of an image, as a sortable table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from PySide6.QtCore import Qt

from ...core.qemu.image_info import Snapshot
from ...core.sizes import exact_size, human_size
from .table import SORT_ROLE, HeaderTableModel, Index


class SnapshotTableModel(HeaderTableModel):
    ID, NAME, VM_STATE, DATE, VM_CLOCK = range(5)
    HEADERS = ("ID", "Name", "VM state", "Date", "VM clock")

    def __init__(self) -> None:
        super().__init__()
        self._rows: tuple[Snapshot, ...] = ()

    def set_snapshots(self, snapshots: tuple[Snapshot, ...]) -> None:
        self.beginResetModel()
        self._rows = snapshots
        self.endResetModel()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Sorted here with Python's sort, because a proxy's per-pair lessThan calls into
        Python are far too slow for thousands of rows."""
        key = _SORT_KEYS[column]
        order_of = sorted(range(len(self._rows)), key=lambda r: key(self._rows[r]),
                          reverse=order == Qt.SortOrder.DescendingOrder)  # fmt: skip
        self.layoutAboutToBeChanged.emit()
        new_row = {old: new for new, old in enumerate(order_of)}
        self._rows = tuple(self._rows[r] for r in order_of)
        old = self.persistentIndexList()
        self.changePersistentIndexList(
            old, [self.index(new_row[i.row()], i.column()) if i.isValid() else i for i in old]
        )
        self.layoutChanged.emit()

    def snapshot(self, row: int) -> Snapshot:
        return self._rows[row]

    def row_count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        s = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                s.id,
                s.name,
                human_size(s.vm_state_size),
                datetime.fromtimestamp(s.date_sec).strftime("%Y-%m-%d %H:%M:%S"),
                s.vm_clock,
            )[column]
        if role == SORT_ROLE:
            return (s.id.zfill(20), s.name, s.vm_state_size, s.date_sec * 10**9 + s.date_nsec,
                    s.vm_clock_nsec)[column]  # fmt: skip
        if role == Qt.ItemDataRole.ToolTipRole and column == self.VM_STATE:
            return exact_size(s.vm_state_size)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (self.ID, self.VM_STATE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


_SORT_KEYS = (
    lambda s: s.id.zfill(20),
    lambda s: s.name,
    lambda s: s.vm_state_size,
    lambda s: (s.date_sec, s.date_nsec),
    lambda s: s.vm_clock_nsec,
)
