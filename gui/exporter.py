"""File > Export: where to, then the inspection written as Markdown or JSON."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QFileDialog, QMainWindow

from ..core.report.details import ImageDetails
from ..core.report.export import write_export
from .models.image_list import ImageEntry
from .plain_text import warn


class Exporter(QObject):
    def __init__(self, window: QMainWindow, current_entry: Callable[[], ImageEntry | None]) -> None:
        super().__init__(window)
        self.window, self.current_entry = window, current_entry

    @Slot()
    def export_dialog(self) -> None:
        entry = self.current_entry()
        if entry is None or entry.details is None:
            self.window.statusBar().showMessage("Only an inspected image can be exported.", 5000)
            return
        suggested = str(Path.home() / f"{entry.name}.md")
        path, _filter = QFileDialog.getSaveFileName(
            self.window, "Export inspection", suggested, "Markdown (*.md);;JSON (*.json)"
        )
        if path:
            self.export_to(path, entry.details)

    def export_to(self, path: str, details: ImageDetails) -> None:
        try:
            write_export(path, details)
        except OSError as exc:
            warn(self.window, f"Could not write {path}: {exc.strerror}.")
            return
        self.window.statusBar().showMessage(f"Exported to {path}.", 5000)
