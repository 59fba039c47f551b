"""An OVA or OVF on the Overview tab: the virtual machine's hardware and its disks."""

from __future__ import annotations

from PySide6.QtWidgets import QHeaderView, QTableView, QVBoxLayout, QWidget

from ...core.appliance.appliance import ApplianceReport
from ...core.appliance.describe import hardware_rows
from ..models.appliance_disks import ApplianceDiskModel
from ..plain_text import PlainLabel


class ApplianceView(QWidget):
    def __init__(self) -> None:
        super().__init__()
        self.hardware = PlainLabel()  # names and NIC labels come from the descriptor: never HTML
        self.hardware.setObjectName("hardware")
        self.hardware.setWordWrap(True)
        self.model = ApplianceDiskModel()
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setAccessibleName("Disks of the appliance")
        self.table.verticalHeader().hide()
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.hardware)
        layout.addWidget(self.table)

    def show_appliance(self, report: ApplianceReport) -> None:
        self.hardware.setText(hardware_text(report))
        self.model.set_disks(report.disks)


def hardware_text(report: ApplianceReport) -> str:
    return "\n".join(f"{label[:1].upper()}{label[1:]}: {value}" for label, value in hardware_rows(report))
