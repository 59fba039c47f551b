"""Convert: target or preset, options, destination, and the pre-flight check before you start."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from diskscope.core.convert import SUBFORMATS, ConvertPlan, ConvertRequest, plan_conversion
from diskscope.core.presets import PRESETS
from diskscope.core.qemu_img import QemuImg
from diskscope.core.safety import ImageReport
from diskscope.core.sizes import size_with_exact
from diskscope.gui.plain_text import PlainLabel
from diskscope.gui.workers import TaskRunner
from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

EXTENSIONS = {"raw": ".raw", "qcow2": ".qcow2", "vmdk": ".vmdk", "vpc": ".vhd", "vhdx": ".vhdx",
              "vdi": ".vdi"}  # fmt: skip
TARGET_LABELS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "VMDK", "vpc": "VHD (vpc)", "vhdx": "VHDX",
                 "vdi": "VDI"}  # fmt: skip
CLUSTER_SIZES = ("", "65536", "131072", "262144", "524288", "1048576", "2097152")


class ConvertDialog(QDialog):
    def __init__(self, report: ImageReport, qemu: QemuImg, runner: TaskRunner,
                 verify: bool = True, parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Convert {report.path.name}")
        self.report, self.qemu, self.runner = report, qemu, runner
        self.plan: ConvertPlan | None = None
        self._generation = 0
        self.target = QComboBox()
        for name, label in TARGET_LABELS.items():
            self.target.addItem(label, ("target", name))
        for preset in PRESETS.values():
            self.target.addItem(f"Preset: {preset.name}", ("preset", preset.name))
            self.target.setItemData(self.target.count() - 1, preset.why, 3)  # tooltip
        self.subformat = QComboBox()
        self.compression = QComboBox()
        self.compression.addItems(["none", "zlib", "zstd"])
        self.preallocation = QComboBox()
        self.preallocation.addItems(["off", "metadata", "falloc", "full"])
        self.cluster = QComboBox()
        self.cluster.addItems(["default", *CLUSTER_SIZES[1:]])
        self.verify = QCheckBox("Compare the output with the source, byte for byte")
        self.verify.setChecked(verify)
        self.destination = QLineEdit()
        self.destination.setAccessibleName("Save as")  # its row is a layout: no buddy label
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.destination)
        where.addWidget(browse)
        self.why = PlainLabel()
        self.why.setWordWrap(True)
        self.space = PlainLabel()  # messages quote paths and violations
        self.space.setWordWrap(True)
        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setToolTip("The exact qemu-img command; select it to copy")
        form = QFormLayout()
        form.addRow("Target:", self.target)
        form.addRow("", self.why)
        form.addRow("Subformat:", self.subformat)
        form.addRow("Compression:", self.compression)
        form.addRow("Preallocation:", self.preallocation)
        form.addRow("Cluster size:", self.cluster)
        form.addRow("Save as:", where)
        form.addRow("", self.verify)
        form.addRow("Space:", self.space)
        form.addRow("Command:", self.command)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.convert_button = self.buttons.addButton("Convert", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.buttons)
        self.resize(680, 420)
        self._timer = QTimer(self, singleShot=True, interval=300)
        self._timer.timeout.connect(self._preflight)
        self.target.currentIndexChanged.connect(self._target_changed)
        for combo in (self.subformat, self.compression, self.preallocation, self.cluster):
            combo.currentIndexChanged.connect(self._options_changed)
        self.destination.textChanged.connect(self._options_changed)
        if not report.safe:
            self.space.setText(f"This image cannot be converted: {report.violations[0].message}")
            self.convert_button.setEnabled(False)
            for widget in (self.target, self.destination, browse):
                widget.setEnabled(False)
            return
        self._target_changed()

    def target_name(self) -> str:
        kind, name = self.target.currentData()
        return PRESETS[name].target if kind == "preset" else str(name)

    @Slot()
    def _target_changed(self) -> None:
        kind, name = self.target.currentData()
        target = self.target_name()
        self.subformat.blockSignals(True)
        self.subformat.clear()
        if kind == "preset":
            preset = PRESETS[name]
            self.why.setText(preset.why)
            self.subformat.addItem(preset.subformat or "default")
        else:
            self.why.setText("")
            self.subformat.addItems(["default", *SUBFORMATS.get(target, ())])
        self.subformat.setEnabled(kind != "preset" and target in SUBFORMATS)
        self.subformat.blockSignals(False)
        self.compression.setEnabled(target == "qcow2")
        self.cluster.setEnabled(target == "qcow2")
        self.verify.setChecked(self.verify.isChecked() or target == "raw")
        self._suggest_name(target)
        self._options_changed()

    def _suggest_name(self, target: str) -> None:
        current = self.destination.text().strip()
        folder = Path(current).parent if current else self.report.path.parent
        stem = self.report.path.stem
        self.destination.setText(str(folder / f"{stem}{EXTENSIONS[target]}"))

    @Slot()
    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the converted image as", self.destination.text())
        if path:
            self.destination.setText(path)

    @Slot()
    def _options_changed(self) -> None:
        self.convert_button.setEnabled(False)
        self.space.setText("Checking…")
        self._timer.start()

    def request(self) -> ConvertRequest:
        kind, name = self.target.currentData()
        options = {
            "compression": _choice(self.compression, "none") if self.compression.isEnabled() else None,
            "preallocation": _choice(self.preallocation, "off"),
            "cluster_size": int(self.cluster.currentText()) if self.cluster.currentText().isdigit() else None,
            "compare": self.verify.isChecked(),
        }
        destination = Path(os.path.abspath(self.destination.text().strip()))
        if kind == "preset":
            return ConvertRequest.from_preset(name, self.report.path, destination, **options)
        subformat = _choice(self.subformat, "default") if self.subformat.isEnabled() else None
        return ConvertRequest(self.report.path, destination, name, subformat=subformat, **options)  # type: ignore[arg-type]

    @Slot()
    def _preflight(self) -> None:
        self._generation += 1
        generation = self._generation
        try:
            request = self.request()
        except ValueError as exc:
            self.space.setText(str(exc))
            return
        self.runner.submit(
            partial(plan_conversion, request, self.qemu),
            partial(self._planned, generation),
            partial(self._refused, generation),
        )

    def _planned(self, generation: int, plan: ConvertPlan) -> None:
        if generation != self._generation:
            return  # the options changed meanwhile
        self.plan = plan
        from shlex import join

        self.command.setText(join(self.qemu.command(self.qemu.convert_args(plan.spec))))
        self.command.setCursorPosition(0)
        self.space.setText(f"needs {size_with_exact(plan.required)}; {size_with_exact(plan.free)} free")
        self.space.setStyleSheet("")
        self.convert_button.setEnabled(plan.fits)

    def _refused(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.plan = None
        self.command.setText("")
        self.space.setText(message)
        self.space.setStyleSheet("color: #b91c1c")
        self.convert_button.setEnabled(False)


def _choice(combo: QComboBox, nothing: str) -> str | None:
    """The combo's text, or None where it says the default."""
    text = combo.currentText()
    return None if text in (nothing, "default") else text
