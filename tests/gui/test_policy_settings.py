"""The inspection policy set in the real Settings dialog, and symbolic links in the Overview."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from diskscope.core.fetch.pipeline import FetchRequest
from diskscope.gui.dialogs.settings_dialog import SettingsDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from diskscope.gui.settings import Settings
from guikit import WAIT_MS, drop
from httpserver import serving
from imagekit import create
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox


def in_settings_dialog(qtbot, window: MainWindow, act: Callable[[SettingsDialog], None]) -> None:  # type: ignore[no-untyped-def]
    """Open Settings from its menu action (a modal dialog) and let `act` work it like a user."""
    done: list[bool] = []

    def drive() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, SettingsDialog)
        act(dialog)
        done.append(True)

    QTimer.singleShot(0, drive)
    window.settings_action.trigger()
    qtbot.waitUntil(lambda: bool(done), timeout=WAIT_MS)


def click(qtbot, dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> None:  # type: ignore[no-untyped-def]
    box = dialog.findChild(QDialogButtonBox)
    assert box is not None
    qtbot.mouseClick(box.button(which), Qt.MouseButton.LeftButton)


def set_policy(qtbot, window: MainWindow, allowed: set[str], largest: str) -> None:  # type: ignore[no-untyped-def]
    def act(dialog: SettingsDialog) -> None:
        for name, box in dialog.vmdk_types.items():
            if box.isChecked() != (name in allowed):
                qtbot.mouseClick(box, Qt.MouseButton.LeftButton)
        dialog.max_size.selectAll()
        qtbot.keyClick(dialog.max_size, Qt.Key.Key_Delete)
        qtbot.keyClicks(dialog.max_size, largest)
        click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
        assert not dialog.isVisible()

    in_settings_dialog(qtbot, window, act)


def test_vmdk_types_set_in_settings_decide_the_verdict(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sparse = create(tmp_path / "sparse.vmdk", "vmdk", "64M")
    set_policy(qtbot, window, {"streamOptimized"}, "")
    assert window.settings.vmdk_allowed_types == {"streamOptimized"}
    drop(qtbot, window, sparse)
    banner = window.overview.banner
    assert banner.verdict == "refused"
    assert "The VMDK create type monolithicSparse is not among the allowed types (streamOptimized)." in (
        banner.text()
    )
    set_policy(qtbot, window, {"streamOptimized", "monolithicSparse"}, "")
    drop(qtbot, window, sparse)
    assert window.overview.banner.verdict == "safe"


def test_largest_virtual_size_set_in_settings_decides_the_verdict(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    disk = create(tmp_path / "disk.qcow2", "qcow2", "64M")
    set_policy(qtbot, window, {"streamOptimized", "monolithicSparse"}, "32M")
    assert window.settings.max_virtual_size == 32 << 20
    drop(qtbot, window, disk)
    assert window.overview.banner.verdict == "refused"
    assert (
        "is larger than the 32.0 MiB (33,554,432 bytes) your policy allows." in window.overview.banner.text()
    )
    set_policy(qtbot, window, {"streamOptimized", "monolithicSparse"}, "64M")
    drop(qtbot, window, disk)
    assert window.overview.banner.verdict == "safe"
    reopened = Settings(window.settings.store)
    assert (reopened.max_virtual_size, reopened.vmdk_allowed_types) == (
        64 << 20,
        window.settings.vmdk_allowed_types,
    )


def test_a_size_that_is_not_one_keeps_the_dialog_open(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    def act(dialog: SettingsDialog) -> None:
        qtbot.keyClicks(dialog.max_size, "20X")
        click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
        assert dialog.isVisible()
        assert dialog.error.text() == "'20X' is not a size; write it as 20G, 512M or a number of bytes."
        click(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)

    in_settings_dialog(qtbot, window, act)
    assert window.settings.max_virtual_size is None


def test_overview_names_where_a_link_leads(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host = tmp_path / "<b>host" / "disk.qcow2"
    host.parent.mkdir()
    create(host, "qcow2", "1M")
    link = tmp_path / "incoming.qcow2"
    link.symlink_to(host)
    drop(qtbot, window, link)
    overview = window.overview
    assert overview.field("Path") == str(link)
    assert overview.field("Link to") == str(host)
    assert overview.values["Link to"].textFormat() == Qt.TextFormat.PlainText
    assert overview.form.isRowVisible(overview.values["Link to"])
    drop(qtbot, window, host)
    window.list.setCurrentIndex(window.model.index(window.model.row_of(str(host)), 0))
    assert overview.field("Path") == str(host)
    assert not overview.form.isRowVisible(overview.values["Link to"])


def test_fetches_from_the_window_follow_the_policy(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = create(tmp_path / "src.qcow2", "qcow2", "64M").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    set_policy(qtbot, window, {"streamOptimized", "monolithicSparse"}, "32M")
    with serving() as server:
        server.files["cloud.qcow2"] = data
        checksum = "sha256:" + hashlib.sha256(data).hexdigest()
        record = window.launcher.start_fetch(FetchRequest(server.url("cloud.qcow2"), out, checksum=checksum))
        qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.FAILED
    assert "The downloaded image was refused: The virtual size of 64.0 MiB" in record.message
    assert list(out.iterdir()) == []


def test_a_keyring_that_cannot_be_read_is_refused_in_settings(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A mistyped keyring path used to be saved, then shown on every image as "Checksum file
    refused"; the dialog now names it and stays open until the path is a readable file."""
    missing = tmp_path / "keys.gpg"
    seen: dict[str, object] = {}

    def act(dialog: SettingsDialog) -> None:
        qtbot.keyClicks(dialog.keyring, str(missing))
        click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
        seen["open"] = dialog.isVisible()
        seen["error"] = dialog.error.text()
        missing.write_bytes(b"")  # a real file now (gpgv decides later whether it holds keys)
        click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
        seen["closed"] = not dialog.isVisible()

    in_settings_dialog(qtbot, window, act)
    assert seen["open"] is True
    assert seen["error"] == f"The keyring {missing} is not a file Diskscope can read."
    assert seen["closed"] is True
    assert window.settings.keyring == str(missing)
