"""Settings: the qemu-img binary, its limits, and how many inspections run at once."""

from __future__ import annotations

from diskscope.gui.settings import Settings
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diskscope Settings")
        self.settings = settings
        self.qemu_path = QLineEdit(settings.qemu_img_path)
        self.qemu_path.setPlaceholderText("qemu-img from PATH")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.qemu_path)
        row.addWidget(browse)
        self.cpu = _spin(1, 3600, settings.cpu_limit, " s")
        self.memory = _spin(64, 65536, settings.memory_limit_mib, " MiB")
        self.parallel = _spin(1, 64, settings.parallel_inspections, "")
        form = QFormLayout(self)
        form.addRow("qemu-img binary:", row)
        form.addRow("CPU time per qemu-img call:", self.cpu)
        form.addRow("Memory per qemu-img call:", self.memory)
        form.addRow("Inspections at once:", self.parallel)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "qemu-img binary")
        if path:
            self.qemu_path.setText(path)

    def accept(self) -> None:
        self.settings.qemu_img_path = self.qemu_path.text().strip()
        self.settings.cpu_limit = self.cpu.value()
        self.settings.memory_limit_mib = self.memory.value()
        self.settings.parallel_inspections = self.parallel.value()
        self.settings.sync()
        super().accept()


def _spin(low: int, high: int, value: int, suffix: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin
