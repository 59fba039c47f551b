"""The list of opened images on the left of the window."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import QApplication, QStyle

from ...core.appliance.appliance import ApplianceReport
from ...core.fetch.sums import SumsCheck
from ...core.qemu.image_info import ImageInfo
from ...core.report.details import ImageDetails
from ...core.sizes import exact_size, human_size
from ..plain_text import plain_tooltip
from .table import SORT_ROLE, HeaderTableModel, Index


class EntryState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"
    PASTED = "pasted"


@dataclass
class ImageEntry:
    key: str  # the absolute path, or "pasted:N"
    name: str
    state: EntryState = EntryState.PENDING
    details: ImageDetails | None = None
    pasted: ImageInfo | None = None
    pasted_text: str = ""
    error: str = ""
    checksum: SumsCheck | None = None  # the image hashed against details.sums, once done
    appliance: ApplianceReport | None = None  # an OVA or OVF: its disks, instead of details

    @property
    def info(self) -> ImageInfo | None:
        if self.pasted is not None:
            return self.pasted
        return self.details.report.info if self.details else None

    @property
    def format_text(self) -> str:
        if self.appliance is not None:
            return self.appliance.kind
        if self.details is not None:
            packed = self.details.report.packed
            fmt = self.details.report.format.value
            return f"{fmt} in {packed.packing.value}" if packed else fmt
        if self.pasted is not None:
            return self.pasted.format
        return ""

    @property
    def virtual_size(self) -> int | None:
        if self.appliance is not None:  # all its disks together
            return sum(d.virtual_size or 0 for d in self.appliance.disks)
        if self.details is not None:
            return self.details.report.virtual_size
        return self.pasted.virtual_size if self.pasted else None

    @property
    def safe(self) -> bool | None:
        if self.appliance is not None:
            return self.appliance.safe
        return self.details.report.safe if self.details else None

    @property
    def verdict(self) -> str:
        """pending, failed, pasted, safe, not_a_disk (grey), owned_chain (amber) or refused."""
        if self.appliance is not None:
            return "safe" if self.appliance.safe else "refused"
        if self.details is None:
            return self.state.value
        if self.details.report.safe:
            return "safe"
        if self.details.not_a_disk_image:
            return "not_a_disk"
        return "owned_chain" if self.details.owned_chain else "refused"


class ImageListModel(HeaderTableModel):
    NAME, FORMAT, SIZE = range(3)
    HEADERS = ("Name", "Format", "Virtual size")

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[ImageEntry] = []

    def row_count(self) -> int:
        return len(self._entries)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        entry = self._entries[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.NAME:
                return entry.name
            if entry.verdict == "not_a_disk":  # no format, no size: it is no disk
                return "not a disk image" if column == self.FORMAT else ""
            if column == self.FORMAT:
                return entry.format_text
            return "" if entry.virtual_size is None else human_size(entry.virtual_size)
        if role == SORT_ROLE:
            return (entry.name, entry.format_text, entry.virtual_size or 0)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.SIZE and entry.virtual_size is not None:
                return exact_size(entry.virtual_size)
            return plain_tooltip(entry.error or entry.key)
        if role == Qt.ItemDataRole.DecorationRole and column == self.NAME:
            return verdict_icon(entry)
        if role == Qt.ItemDataRole.ForegroundRole and entry.verdict == "not_a_disk":
            return QApplication.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def entry(self, row: int) -> ImageEntry:
        return self._entries[row]

    def row_of(self, key: str) -> int:
        for row, entry in enumerate(self._entries):
            if entry.key == key:
                return row
        return -1

    def entries(self) -> list[ImageEntry]:
        return list(self._entries)

    def upsert(self, entry: ImageEntry) -> int:
        """Add the entry, or replace the one with the same key; its row."""
        row = self.row_of(entry.key)
        if row < 0:
            row = len(self._entries)
            self.beginInsertRows(QModelIndex(), row, row)
            self._entries.append(entry)
            self.endInsertRows()
        else:
            self._entries[row] = entry
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.HEADERS) - 1))
        return row

    def remove(self, row: int) -> None:
        self.beginRemoveRows(QModelIndex(), row, row)
        del self._entries[row]
        self.endRemoveRows()


def verdict_icon(entry: ImageEntry) -> QIcon:
    style = QApplication.style()
    pixmap = {
        EntryState.PENDING: QStyle.StandardPixmap.SP_BrowserReload,
        EntryState.FAILED: QStyle.StandardPixmap.SP_MessageBoxWarning,
        EntryState.PASTED: QStyle.StandardPixmap.SP_FileDialogDetailedView,
    }.get(entry.state)
    if pixmap is None:
        pixmap = {
            "safe": QStyle.StandardPixmap.SP_DialogApplyButton,
            "not_a_disk": QStyle.StandardPixmap.SP_FileIcon,
            "owned_chain": QStyle.StandardPixmap.SP_MessageBoxInformation,
        }.get(entry.verdict, QStyle.StandardPixmap.SP_MessageBoxCritical)
    return style.standardIcon(pixmap)
