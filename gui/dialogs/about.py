"""About Diskscope, with the versions a bug report needs."""

from __future__ import annotations

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import qVersion
from PySide6.QtWidgets import QMessageBox, QWidget

from ... import __version__


def about_text(qemu_version: str) -> str:
    from html import escape

    return (
        f"<h3>Diskscope {__version__}</h3>"
        "<p>Inspect, verify, convert and fetch virtual-machine disk images, safely.</p>"
        f"<p>Qt {qVersion()} · PySide6 {pyside_version} · qemu-img {escape(qemu_version)}</p>"
    )


def show_about(parent: QWidget, qemu_version: str) -> None:
    QMessageBox.about(parent, "About Diskscope", about_text(qemu_version))
