"""The journeys of issue 12, played through the real widgets: open a folder, look at the
verdict, convert from the Image menu (the dialog driven by clicks and typing), watch the job.

Real qemu-img images, a real HTTP server; the modal dialog is reached the way a user
reaches it (the action), and handled while it is open."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from catalogue import mbr_bad_boot_flag
from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from diskscope.gui.models.image_list import ImageListModel
from guikit import WAIT_MS, wait_idle
from imagekit import MiB, create, qemu_img, write_pattern
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QLineEdit, QPushButton, QWidget


def open_and_wait(qtbot, win: MainWindow, *paths: Path) -> None:  # type: ignore[no-untyped-def]
    win.open_paths([str(p) for p in paths])
    wait_idle(qtbot, win)


def select(win: MainWindow, name: str) -> None:
    row = next(i for i, e in enumerate(win.model.entries()) if e.name == name)
    win.list.setCurrentIndex(win.model.index(row, 0))


def row_text(win: MainWindow, name: str, column: int) -> str:
    row = next(i for i, e in enumerate(win.model.entries()) if e.name == name)
    return str(win.model.index(row, column).data())


def while_modal(qtbot, act: Callable[[ConvertDialog], None]) -> list[str]:  # type: ignore[no-untyped-def]
    """Runs `act` on the Convert dialog once it is open (exec() blocks the caller); the
    problems it meets are returned, since an exception here would only reach Qt."""
    problems: list[str] = []

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConvertDialog):
            QTimer.singleShot(20, poll)
            return
        try:
            act(dialog)
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
            dialog.reject()

    QTimer.singleShot(0, poll)
    return problems


def click(qtbot, widget: QWidget) -> None:  # type: ignore[no-untyped-def]
    """A left click where a user aims: a check box on its box, a button in its middle."""
    where = QPoint(8, widget.height() // 2) if isinstance(widget, QCheckBox) else widget.rect().center()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=where)


# -- opening a folder -------------------------------------------------------------------------


def test_a_folder_lists_text_files_as_no_disk_and_checks_sha256sums(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A text file is a grey row; the checksum list and its signature are no rows at all (at a
    real display they were grey rows between the images): each image's row shows their word."""
    good = create(tmp_path / "good.qcow2", "qcow2", "8M")
    bad = create(tmp_path / "changed.qcow2", "qcow2", "8M")
    sums = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (good, bad)]
    (tmp_path / "SHA256SUMS").write_text(f"{sums[0]}  good.qcow2\n{sums[1]} *changed.qcow2\n")
    write_pattern(bad, "qcow2", 0, 65536)  # changed after the list was made
    (tmp_path / "SHA256SUMS.gpg").write_bytes(b"not checked: no keyring in Settings")
    (tmp_path / "README.txt").write_text("These are the images.\nVerify them first.\n")
    (tmp_path / "appliance.ovf").write_text('<?xml version="1.0"?>\n<Envelope></Envelope>\n')
    mbr_bad_boot_flag(tmp_path)
    open_and_wait(qtbot, window, tmp_path)
    names = {e.name for e in window.model.entries()}
    assert "SHA256SUMS" not in names and "SHA256SUMS.gpg" not in names
    assert row_text(window, "README.txt", ImageListModel.FORMAT) == "not a disk image"
    assert row_text(window, "README.txt", ImageListModel.SIZE) == ""
    select(window, "README.txt")
    assert window.overview.banner.verdict == "not_a_disk"
    assert window.overview.field("Format") == "not a disk image"
    assert window.overview.field("Virtual size") == "—"
    assert "Safe" not in window.overview.banner.text()
    select(window, "appliance.ovf")  # read as the appliance it claims to be, and refused
    assert window.overview.banner.verdict == "failed"
    assert "describes no virtual machine" in window.overview.banner.text()
    select(window, "good.qcow2")
    assert window.overview.banner.verdict == "safe"
    assert window.overview.checksum.isVisible()
    assert window.overview.checksum.text() == (
        "Checksum: sha256 matches SHA256SUMS (signature not checked: no keyring given (Settings: Checksum signing keys))."
    )
    select(window, "changed.qcow2")
    assert window.overview.checksum.property("matches") is False
    assert "does not match SHA256SUMS" in window.overview.checksum.text()
    select(window, "flag.img")
    assert window.overview.notes.isVisible() and "boot" in window.overview.notes.text().lower()
    select(window, "good.qcow2")
    assert not window.overview.notes.isVisible()


# -- your own overlay -------------------------------------------------------------------------


def test_own_overlay_is_amber_and_the_dialog_flattens_it_after_a_confirmation(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    base = create(tmp_path / "base.qcow2", "qcow2", "8M")
    write_pattern(base, "qcow2", 0, 65536, 0x11)
    overlay = tmp_path / "overlay.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", overlay)
    write_pattern(overlay, "qcow2", 1 << 20, 65536, 0x22)
    open_and_wait(qtbot, window, overlay)
    assert window.overview.banner.verdict == "owned_chain"
    assert "flatten" in window.overview.banner.text()

    def flatten(dialog: ConvertDialog) -> None:
        assert dialog.flatten.isVisible() and not dialog.flatten.isChecked()
        dialog.target.setCurrentIndex(dialog.target.findText("raw"))
        qtbot.waitUntil(lambda: "tick" in dialog.error.text().lower(), timeout=WAIT_MS)
        assert not dialog.convert_button.isEnabled()
        click(qtbot, dialog.flatten)
        qtbot.waitUntil(dialog.convert_button.isEnabled, timeout=WAIT_MS)
        assert dialog.error.isHidden()
        click(qtbot, dialog.convert_button)

    problems = while_modal(qtbot, flatten)
    window.convert_action.trigger()
    assert problems == []
    record = next(iter(window.jobs.records.values()))
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    out = tmp_path / "overlay.raw"
    info = json.loads(qemu_img("info", "-f", "raw", "--output=json", out))
    assert "backing-filename" not in info
    qemu_img("compare", "-f", "qcow2", "-F", "raw", overlay, out)


def test_a_chain_to_etc_passwd_stays_red_and_the_dialog_is_closed_to_input(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    evil = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", evil, "1M")
    open_and_wait(qtbot, window, evil)
    assert window.overview.banner.verdict == "refused"

    def look(dialog: ConvertDialog) -> None:
        inputs = (
            dialog.findChildren(QComboBox) + dialog.findChildren(QLineEdit) + dialog.findChildren(QCheckBox)
        )
        editable = [w for w in inputs if w.isEnabled() and not w.isHidden() and w is not dialog.command]
        assert editable == [], [w.objectName() or type(w).__name__ for w in editable]
        assert not dialog.convert_button.isEnabled() and not dialog.flatten.isVisible()
        assert "backing file" in dialog.error.text() and dialog.space.text() == ""
        browse = [b for b in dialog.findChildren(QPushButton) if b.text() == "Browse…"]
        assert browse and not browse[0].isEnabled()
        dialog.reject()

    problems = while_modal(qtbot, look)
    window.convert_action.trigger()
    assert problems == []


# -- the Convert dialog -----------------------------------------------------------------------


def test_a_taken_name_is_not_suggested_and_overwrite_is_a_choice(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = create(tmp_path / "disk.raw", "raw", "4M")
    (tmp_path / "disk.qcow2").write_bytes(b"taken")
    open_and_wait(qtbot, window, source)

    def convert(dialog: ConvertDialog) -> None:
        dialog.target.setCurrentIndex(dialog.target.findText("qcow2"))
        assert dialog.destination.text() == str(tmp_path / "disk-2.qcow2")
        qtbot.waitUntil(dialog.convert_button.isEnabled, timeout=WAIT_MS)
        assert not dialog.overwrite.isEnabled()
        dialog.destination.clear()
        qtbot.keyClicks(dialog.destination, str(tmp_path / "disk.qcow2"))
        qtbot.waitUntil(lambda: "exists" in dialog.error.text(), timeout=WAIT_MS)
        assert dialog.error.isVisible() and "exists" not in dialog.space.text()
        assert not dialog.convert_button.isEnabled() and dialog.overwrite.isEnabled()
        click(qtbot, dialog.overwrite)
        qtbot.waitUntil(dialog.convert_button.isEnabled, timeout=WAIT_MS)
        assert dialog.error.isHidden() and "free" in dialog.space.text()
        click(qtbot, dialog.convert_button)

    problems = while_modal(qtbot, convert)
    window.convert_action.trigger()
    assert problems == []
    record = next(iter(window.jobs.records.values()))
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (
        json.loads(qemu_img("info", "-f", "qcow2", "--output=json", tmp_path / "disk.qcow2"))["format"]
        == "qcow2"
    )
    assert not (tmp_path / "disk-2.qcow2").exists()


def test_closing_stops_a_long_checksum(qtbot, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A terabyte (sparse) listed in SHA256SUMS: the verdict shows while it is hashed, and
    closing the window stops the hash instead of reading the terabyte."""
    image = tmp_path / "huge.raw"
    with open(image, "wb") as f:
        f.truncate(1 << 40)
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  huge.raw\n")
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    win.open_paths([str(image)])
    qtbot.waitUntil(lambda: win.overview.banner.verdict == "safe", timeout=WAIT_MS)
    assert "checking the sha256 against SHA256SUMS" in win.overview.checksum.text()
    qtbot.waitUntil(lambda: win.runner.pending == 1, timeout=WAIT_MS)  # the hash, in its own task
    win.close()
    assert win.runner.pending == 0
    assert win.current_entry().checksum is None  # type: ignore[union-attr]


def test_a_compressed_image_converts_from_the_window(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Image > Convert on a dropped disk.qcow2.xz: the job inflates it, then converts it."""
    from packkit import compress

    folder = tmp_path / "images"
    folder.mkdir()
    image = create(folder / "disk.qcow2", "qcow2", "16M")
    write_pattern(image, "qcow2", MiB, MiB, 0x77)
    packed = compress(image, "xz")
    original = image.rename(tmp_path / "original.qcow2")
    open_and_wait(qtbot, window, packed)

    def convert(dialog: ConvertDialog) -> None:
        dialog.target.setCurrentIndex(dialog.target.findText("raw"))
        assert dialog.destination.text() == str(folder / "disk.raw")
        qtbot.waitUntil(dialog.convert_button.isEnabled, timeout=WAIT_MS)
        assert "decompressed from xz first" in dialog.space.text()
        click(qtbot, dialog.convert_button)

    problems = while_modal(qtbot, convert)
    window.convert_action.trigger()
    assert problems == []
    record = next(iter(window.jobs.records.values()))
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    qemu_img("compare", "-f", "qcow2", "-F", "raw", original, folder / "disk.raw")
    assert sorted(p.name for p in folder.iterdir()) == ["disk.qcow2.xz", "disk.raw"]
