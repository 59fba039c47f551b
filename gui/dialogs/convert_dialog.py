"""Convert: target or preset, options, destination, and the pre-flight check before you start."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

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

from ...core.appliance.appliance import ApplianceDisk, ApplianceReport
from ...core.appliance.convert import disk_request
from ...core.convert.plan import ConvertPlan, plan_conversion
from ...core.convert.presets import PRESETS
from ...core.convert.request import SUBFORMATS, ConvertRequest
from ...core.convert.verification import Verification, describe
from ...core.packed.probe import unpacked_name
from ...core.policy import DEFAULT_POLICY, InspectionPolicy
from ...core.qemu.qemu_img import QemuImg
from ...core.safety import ImageReport
from ...core.sizes import size_with_exact
from ..models.appliance_disks import verdict
from ..palette import Tone, tone_color
from ..plain_text import PlainLabel
from ..workers import TaskRunner

EXTENSIONS = {"raw": ".raw", "qcow2": ".qcow2", "vmdk": ".vmdk", "vpc": ".vhd", "vhdx": ".vhdx",
              "vdi": ".vdi"}  # fmt: skip
TARGET_LABELS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "VMDK", "vpc": "VHD (vpc)", "vhdx": "VHDX",
                 "vdi": "VDI"}  # fmt: skip
CLUSTER_SIZES = ("", "65536", "131072", "262144", "524288", "1048576", "2097152")


class ConvertDialog(QDialog):
    def __init__(self, report: ImageReport, qemu: QemuImg, runner: TaskRunner,
                 compare: bool = False, parent: QWidget | None = None,
                 owned_chain: bool = False, policy: InspectionPolicy = DEFAULT_POLICY,
                 disks: tuple[ApplianceDisk, ...] = ()) -> None:  # fmt: skip
        """`owned_chain`: the source is refused only for a backing chain that lies in its
        folder with every layer passing; it can be flattened once the user says so.
        `disks`: an appliance's disks, offered in a Disk row; `report` is the first one's.
        `plan` is what the Convert button starts: the job runs it without planning again."""
        super().__init__(parent)
        self.setWindowTitle(f"Convert {report.path.name}")
        self.report, self.qemu, self.runner, self.policy = report, qemu, runner, policy
        self.disks = disks
        self.disk: ApplianceDisk | None = disks[0] if disks else None
        self.owned_chain = owned_chain and not report.safe
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
        self.verify = QCheckBox("Also compare every byte with the source (qemu-img compare: slower "
                                "than the conversion itself)")  # fmt: skip
        self.verify.setChecked(compare)
        self.verified = PlainLabel()  # what the job will verify, in words
        self.verified.setWordWrap(True)
        self.flatten = QCheckBox("Flatten the backing chain: read every layer in this folder and "
                                 "write one self-contained image")  # fmt: skip
        self.flatten.setVisible(self.owned_chain)
        self.overwrite = QCheckBox("Replace the existing file")
        self.overwrite.setEnabled(False)
        self.destination = QLineEdit()
        self.destination.setAccessibleName("Save as")  # its row is a layout: no buddy label
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        where = QHBoxLayout()
        where.addWidget(self.destination)
        where.addWidget(browse)
        self.why = PlainLabel()
        self.why.setWordWrap(True)
        self.space = PlainLabel()
        self.space.setWordWrap(True)
        self.error = PlainLabel()  # messages quote paths and violations
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.setStyleSheet(
            f"QLabel#error {{ color: {tone_color(Tone.REFUSED, self.palette()).name()}; }}"
        )
        self.error.hide()
        self.command = QLineEdit()
        self.command.setReadOnly(True)
        self.command.setToolTip("The exact qemu-img command; select it to copy")
        form = QFormLayout()
        self.disk_choice = QComboBox()
        for disk in disks:
            self.disk_choice.addItem(f"Disk {disk.index}: {disk.href} ({verdict(disk)})")
        if disks:
            form.addRow("Disk:", self.disk_choice)
        form.addRow("Target:", self.target)
        form.addRow("", self.why)
        form.addRow("Subformat:", self.subformat)
        form.addRow("Compression:", self.compression)
        form.addRow("Preallocation:", self.preallocation)
        form.addRow("Cluster size:", self.cluster)
        form.addRow("Save as:", where)
        form.addRow("", self.overwrite)
        form.addRow("", self.verify)
        form.addRow("Verified:", self.verified)
        form.addRow("", self.flatten)
        form.addRow("Space:", self.space)
        form.addRow("Command:", self.command)
        form.addRow(self.error)
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
        for box in (self.overwrite, self.flatten, self.verify):
            box.toggled.connect(self._options_changed)
        self.disk_choice.currentIndexChanged.connect(self._disk_changed)
        self._inputs = (self.target, self.subformat, self.compression, self.preallocation, self.cluster,
                        self.destination, browse, self.verify, self.overwrite)  # fmt: skip
        self._source_changed()

    @classmethod
    def for_appliance(
        cls, appliance: ApplianceReport, qemu: QemuImg, runner: TaskRunner, compare: bool = False,
        parent: QWidget | None = None, policy: InspectionPolicy = DEFAULT_POLICY,
    ) -> ConvertDialog:  # fmt: skip
        """The dialog for an OVA's or OVF's disks, one at a time, each from its bytes in place."""
        disks = tuple(d for d in appliance.disks if d.report is not None)
        assert disks and disks[0].report is not None, "the window offers Convert for disks with content"
        return cls(disks[0].report, qemu, runner, compare, parent, policy=policy, disks=disks)

    @Slot(int)
    def _disk_changed(self, row: int) -> None:
        self.disk = self.disks[row]
        assert self.disk.report is not None
        self.report = self.disk.report
        self._source_changed()

    def _source_changed(self) -> None:
        usable = self.report.safe or self.owned_chain
        for widget in self._inputs:
            widget.setEnabled(usable)
        if not usable:
            self._show_error(f"This image cannot be converted: {self.report.violations[0].message}")
            self.convert_button.setEnabled(False)
            return
        self._show_error("")
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
        self._suggest_name(target)
        self._options_changed()

    def _suggest_name(self, target: str) -> None:
        current = self.destination.text().strip()
        folder = Path(current).parent if current else self.report.path.parent
        stem = (
            self.disk.name if self.disk else Path(unpacked_name(self.report.path.name)).stem
        )  # disk.qcow2.xz: disk
        self.destination.setText(str(free_name(folder, stem, EXTENSIONS[target])))

    @Slot()
    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the converted image as", self.destination.text())
        if path:
            self.destination.setText(path)

    def _verification(self) -> Verification:
        return Verification.FULL if self.verify.isChecked() else Verification.STRUCTURE

    @Slot()
    def _options_changed(self) -> None:
        self.convert_button.setEnabled(False)
        self.plan = None  # made for the old options
        text = describe(self._verification())
        self.verified.setText(text[0].upper() + text[1:])
        name = self.destination.text().strip()
        self.overwrite.setEnabled(bool(name) and os.path.lexists(name))  # offered only when it applies
        self._show_error("")
        self.space.setText("Checking…")
        self._timer.start()

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))

    def request(self) -> ConvertRequest:
        kind, name = self.target.currentData()
        options = {
            "compression": _choice(self.compression, "none") if self.compression.isEnabled() else None,
            "preallocation": _choice(self.preallocation, "off"),
            "cluster_size": int(self.cluster.currentText()) if self.cluster.currentText().isdigit() else None,
            "verify": self._verification(),
            "overwrite": self.overwrite.isEnabled() and self.overwrite.isChecked(),
            "allow_owned_backing": self.owned_chain and self.flatten.isChecked(),
            "policy": self.policy,
        }
        destination = Path(os.path.abspath(self.destination.text().strip()))
        if kind == "preset":
            request = ConvertRequest.from_preset(name, self.report.path, destination, **options)
        else:
            subformat = _choice(self.subformat, "default") if self.subformat.isEnabled() else None
            request = ConvertRequest(self.report.path, destination, name, subformat=subformat, **options)  # type: ignore[arg-type]
        return disk_request(self.disk, request) if self.disk else request

    @Slot()
    def _preflight(self) -> None:
        self._generation += 1
        generation = self._generation
        if self.owned_chain and not self.flatten.isChecked():
            self.space.setText("")
            self._show_error("This image is an overlay on your own backing chain: tick “Flatten "
                             "the backing chain” to convert it into one self-contained image.")  # fmt: skip
            return
        try:
            request = self.request()
        except ValueError as exc:
            self.space.setText("")
            self._show_error(str(exc))
            return
        if self.report.packed is not None:
            # qemu-img reads no compressed file: the job inflates it first (core/packed/convert.py),
            # and its space and command are known only then.
            self.plan = None
            self.command.setText("")
            self.command.setPlaceholderText("known once the image is decompressed")
            self.space.setText(f"decompressed from {self.report.packed.packing.value} first; "
                               "the space it needs is checked then")  # fmt: skip
            self._show_error("")
            self.convert_button.setEnabled(True)
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
        self._show_error("")
        self.convert_button.setEnabled(plan.fits)

    def _refused(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return
        self.plan = None
        self.command.setText("")
        self.space.setText("")
        self._show_error(message)
        self.convert_button.setEnabled(False)


def free_name(folder: Path, stem: str, extension: str) -> Path:
    """`stem.ext` in `folder`, or `stem-2.ext`, `stem-3.ext`, ... whichever does not exist yet."""
    candidate = folder / f"{stem}{extension}"
    number = 2
    while os.path.lexists(candidate):
        candidate = folder / f"{stem}-{number}{extension}"
        number += 1
    return candidate


def _choice(combo: QComboBox, nothing: str) -> str | None:
    """The combo's text, or None where it says the default."""
    text = combo.currentText()
    return None if text in (nothing, "default") else text
