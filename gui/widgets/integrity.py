"""The Integrity tab: `qemu-img check` on demand, explained in plain words."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QPushButton, QVBoxLayout, QWidget

from ...core.qemu.results import CheckResult
from ..models.image_list import ImageEntry
from ..plain_text import PlainLabel


class IntegrityPanel(QWidget):
    check_requested = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.button = QPushButton("Run integrity check")
        self.button.setToolTip("Run qemu-img check on this image (read-only)")
        self.button.clicked.connect(self.check_requested)
        self.result = PlainLabel()  # error messages quote paths
        self.result.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.button)
        layout.addWidget(self.result)
        layout.addStretch()

    def show_entry(self, entry: ImageEntry, result: CheckResult | None) -> None:
        safe = entry.details is not None and entry.details.report.safe
        self.button.setEnabled(safe)
        if result is not None:
            self.show_result(result)
        elif entry.appliance is not None:
            self.result.setText("qemu-img check reads one image: Image > Convert writes the "
                                "appliance's disks out, and each one opened can be checked.")  # fmt: skip
        elif entry.details is None:
            self.result.setText("There is no file to check.")
        elif not safe:
            self.result.setText("The image was refused, so qemu-img will not open it.")
        else:
            self.result.setText("Not checked yet.")

    def show_running(self) -> None:
        self.button.setEnabled(False)
        self.result.setText("Checking…")

    def show_result(self, result: CheckResult) -> None:
        counts = []
        if result.total_clusters:
            counts.append(f"{result.allocated_clusters or 0} of {result.total_clusters} clusters used")
        if result.fragmented_clusters:
            counts.append(f"{result.fragmented_clusters} fragmented")
        if result.compressed_clusters:
            counts.append(f"{result.compressed_clusters} compressed")
        extra = f"\n{', '.join(counts)}." if counts else ""
        self.result.setText(result.summary + extra)
        self.button.setEnabled(True)

    def show_error(self, message: str) -> None:
        self.result.setText(message)
        self.button.setEnabled(True)
