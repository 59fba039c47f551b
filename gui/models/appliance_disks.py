"""The disks of an OVA or OVF appliance, each with its own verdict."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from ...core.appliance.appliance import ApplianceDisk
from ...core.sizes import exact_size, human_size
from ..plain_text import plain_tooltip
from .table import SORT_ROLE, HeaderTableModel, Index


class ApplianceDiskModel(HeaderTableModel):
    NUMBER, FILE, CONTROLLER, FORMAT, SIZE, VERDICT = range(6)
    HEADERS = ("Disk", "File", "Controller", "Format", "Virtual size", "Verdict")

    def __init__(self) -> None:
        super().__init__()
        self._rows: tuple[ApplianceDisk, ...] = ()

    def set_disks(self, disks: tuple[ApplianceDisk, ...]) -> None:
        self.beginResetModel()
        self._rows = disks
        self.endResetModel()

    def disk(self, row: int) -> ApplianceDisk:
        return self._rows[row]

    def row_count(self) -> int:
        return len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        d, column = self._rows[index.row()], index.column()
        size = d.virtual_size
        if role == Qt.ItemDataRole.DisplayRole:
            return (str(d.index), d.href or "(empty disk)", d.controller or "—", _format(d),
                    "—" if size is None else human_size(size), verdict(d))[column]  # fmt: skip
        if role == SORT_ROLE:
            return (d.index, d.href or "", d.controller or "", _format(d), size or 0, verdict(d))[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.SIZE and size is not None:
                return exact_size(size)
            if column == self.VERDICT and d.report is not None and not d.report.safe:
                return plain_tooltip("\n".join(v.message for v in d.report.violations))
        return None


def verdict(disk: ApplianceDisk) -> str:
    if disk.report is None:
        return "no file"
    return "safe" if disk.report.safe else f"refused: {disk.report.violations[0].message}"


def _format(disk: ApplianceDisk) -> str:
    if disk.report is None:
        return "—"
    ours = disk.report.inspection
    return ours.format.value + (f" ({ours.subformat})" if ours.subformat else "")
