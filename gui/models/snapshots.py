"""Internal snapshots of an image, as a sortable table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from diskscope.core.image_info import Snapshot
from diskscope.core.sizes import exact_size, human_size
from diskscope.gui.models.table import SORT_ROLE, HeaderTableModel, Index
from PySide6.QtCore import Qt


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
