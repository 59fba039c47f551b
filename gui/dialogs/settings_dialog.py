"""Settings: the qemu-img binary, its limits, how many inspections run at once, and the
inspection policy (VMDK types accepted, largest disk)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ...core.errors import DiskscopeError
from ...core.policy import VMDK_SINGLE_FILE_TYPES, InspectionPolicy, parse_size
from ..palette import Tone, tone_color
from ..plain_text import PlainLabel
from ..settings import Option, Settings


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Diskscope Settings")
        self.settings = settings
        self.notice = PlainLabel(settings.take_reset_notice())  # before the fields read them
        self.notice.setWordWrap(True)
        if not self.notice.text():
            self.notice.hide()
        self.qemu_path = QLineEdit(settings.qemu_img_path)
        self.qemu_path.setAccessibleName(self.tr("qemu-img binary"))  # its row is a layout: no buddy
        self.qemu_path.setPlaceholderText("qemu-img from PATH")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.qemu_path)
        row.addWidget(browse)
        self.cpu = _spin(Settings.cpu_limit, settings.cpu_limit, " s")
        self.memory = _spin(Settings.memory_limit_mib, settings.memory_limit_mib, " MiB")
        self.parallel = _spin(Settings.parallel_inspections, settings.parallel_inspections, "")
        self.jobs = _spin(Settings.concurrent_jobs, settings.concurrent_jobs, "")
        self.destination = QLineEdit(settings.destination_folder)
        self.force_raw = QCheckBox(Settings.force_raw.label)
        self.force_raw.setChecked(settings.force_raw)
        self.verify_convert = QCheckBox(Settings.compare_after_convert.label)
        self.verify_convert.setChecked(settings.compare_after_convert)
        self.ca_bundle = QLineEdit(settings.ca_bundle)
        self.ca_bundle.setPlaceholderText("the system's certificates")
        self.verify_tls = QCheckBox(Settings.verify_tls.label)
        self.verify_tls.setChecked(settings.verify_tls)
        self.verify_tls.setToolTip("Turning this off lets anyone on the network path alter images.")
        self.keyring = QLineEdit(settings.keyring)
        self.keyring.setPlaceholderText("none: signatures on checksum files are not checked")
        self.keyring.setToolTip("e.g. /usr/share/keyrings/ubuntu-cloudimage-keyring.gpg; verified with gpgv")
        self.keyring.setAccessibleName(self.tr(Settings.keyring.label))  # its row is a layout: no buddy
        browse_keyring = QPushButton("Browse…")
        browse_keyring.clicked.connect(self._browse_keyring)
        keyring_row = QHBoxLayout()
        keyring_row.addWidget(self.keyring)
        keyring_row.addWidget(browse_keyring)
        self.vmdk_types = {name: QCheckBox(name) for name in VMDK_SINGLE_FILE_TYPES}
        vmdk_row = QHBoxLayout()
        for name, box in self.vmdk_types.items():
            box.setChecked(name in settings.vmdk_allowed_types)
            vmdk_row.addWidget(box)
        vmdk_row.addStretch()
        size = settings.max_virtual_size
        self.max_size = QLineEdit("" if size is None else _size_text(size))
        self.max_size.setPlaceholderText("no limit (e.g. 20G)")
        self.error = QLabel()
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setStyleSheet(f"color: {tone_color(Tone.REFUSED, self.palette()).name()}")
        self.error.hide()
        form = QFormLayout(self)
        form.addRow(self.notice)
        form.addRow(f"{Settings.qemu_img_path.label}:", row)
        form.addRow(f"{Settings.cpu_limit.label}:", self.cpu)
        form.addRow(f"{Settings.memory_limit_mib.label}:", self.memory)
        form.addRow(f"{Settings.parallel_inspections.label}:", self.parallel)
        form.addRow(f"{Settings.concurrent_jobs.label}:", self.jobs)
        form.addRow(f"{Settings.destination_folder.label}:", self.destination)
        form.addRow("", self.force_raw)
        form.addRow("", self.verify_convert)
        form.addRow(f"{Settings.ca_bundle.label}:", self.ca_bundle)
        form.addRow("", self.verify_tls)
        form.addRow(f"{Settings.keyring.label}:", keyring_row)
        form.addRow(f"{Settings.vmdk_allowed_types.label}:", vmdk_row)
        form.addRow(f"{Settings.max_virtual_size.label}:", self.max_size)
        form.addRow(self.error)
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

    def _browse_keyring(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, Settings.keyring.label, "/usr/share/keyrings", "Keyrings (*.gpg *.kbx *.asc);;All files (*)"
        )
        if path:
            self.keyring.setText(path)

    def policy(self) -> InspectionPolicy:
        """The policy the form describes; DiskscopeError (one sentence) if it cannot be used."""
        text = self.max_size.text().strip()
        allowed = frozenset(name for name, box in self.vmdk_types.items() if box.isChecked())
        return InspectionPolicy(allowed, parse_size(text) if text else None)

    def accept(self) -> None:
        try:
            policy = self.policy()
        except DiskscopeError as exc:
            self.error.setText(str(exc))
            self.error.show()
            return
        keyring = self.keyring.text().strip()
        if keyring and not (os.path.isfile(keyring) and os.access(keyring, os.R_OK)):
            # Caught here, not later as a red "Checksum file refused" on every image.
            self.error.setText(f"The keyring {keyring} is not a file Diskscope can read.")
            self.error.show()
            return
        self.settings.vmdk_allowed_types = policy.vmdk_allowed_types
        self.settings.max_virtual_size = policy.max_virtual_size
        self.settings.qemu_img_path = self.qemu_path.text().strip()
        self.settings.cpu_limit = self.cpu.value()
        self.settings.memory_limit_mib = self.memory.value()
        self.settings.parallel_inspections = self.parallel.value()
        self.settings.concurrent_jobs = self.jobs.value()
        self.settings.destination_folder = self.destination.text().strip()
        self.settings.force_raw = self.force_raw.isChecked()
        self.settings.compare_after_convert = self.verify_convert.isChecked()
        self.settings.ca_bundle = self.ca_bundle.text().strip()
        self.settings.verify_tls = self.verify_tls.isChecked()
        self.settings.keyring = keyring
        self.settings.sync()
        super().accept()


def _size_text(n: int) -> str:
    """`20G` when a unit divides the size exactly, plain bytes otherwise."""
    for unit, shift in (("T", 40), ("G", 30), ("M", 20), ("K", 10)):
        if n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return str(n)


def _spin(option: Option[int], value: int, suffix: str) -> QSpinBox:
    """A number within the option's bounds."""
    assert option.bounds is not None
    spin = QSpinBox()
    spin.setRange(*option.bounds)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin
