"""`diskscope-gui --screenshot`: render the window with real images to a PNG and exit."""

from __future__ import annotations

import os

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from .main_window import MainWindow

TAB_INDEX = {"overview": 0, "snapshots": 1, "chain": 2, "allocation": 3, "integrity": 4, "raw": 5}


def take_screenshot(window: MainWindow, paths: list[str], target: str, select: str | None, tab: str) -> None:
    window.resize(1200, 760)

    def save() -> None:
        wanted = select or (os.path.basename(paths[0]) if paths else "snapshots.qcow2")
        for row, entry in enumerate(window.model.entries()):
            if entry.name == wanted:
                window._select_row(row)
        window.tabs.setCurrentIndex(TAB_INDEX[tab])
        QTimer.singleShot(300, grab)

    def grab() -> None:
        window.grab().save(target, "PNG")
        QApplication.quit()

    window.runner.idle.connect(save)
    if paths:
        window.open_paths(paths)
    else:
        window.open_samples()
    if not window.runner.pending:
        save()
