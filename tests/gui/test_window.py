"""The main window with real images, real qemu-img and real widgets (offscreen)."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

from catalogue import qcow2_backing_host_path, vmdk_flat_absolute
from diskscope.gui.main_window import MainWindow
from diskscope.gui.models.image_list import EntryState
from diskscope.gui.settings import Settings
from guikit import WAIT_MS, wait_idle
from imagekit import MiB, RecordingQemuImg, create, patch, qemu_img, write_pattern
from proc import child_pids
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent


def open_and_wait(qtbot, win: MainWindow, *paths: Path) -> None:  # type: ignore[no-untyped-def]
    win.open_paths([str(p) for p in paths])
    wait_idle(qtbot, win)


def test_empty_state_until_an_image_opens(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.stack.currentWidget() is window.empty
    assert not window.export_action.isEnabled()
    open_and_wait(qtbot, window, create(tmp_path / "a.qcow2", "qcow2", "64M"))
    assert window.stack.currentWidget() is window.tabs
    assert window.export_action.isEnabled()


def test_safe_image_overview_and_banner(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "disk.qcow2", "qcow2", "64M", "cluster_size=128k")
    open_and_wait(qtbot, window, path)
    entry = window.model.entry(0)
    assert (entry.name, entry.state, entry.format_text) == ("disk.qcow2", EntryState.READY, "qcow2")
    assert window.model.index(0, 2).data() == "64.0 MiB"
    overview = window.overview
    assert overview.field("Format") == "qcow2"
    assert overview.field("Virtual size") == "64.0 MiB"
    assert overview.values["Virtual size"].toolTip() == "67,108,864 bytes"
    assert overview.field("Cluster size") == "128.0 KiB"
    assert overview.field("qcow2 compat") == "1.1"
    assert overview.field("Path") == str(path)
    assert overview.banner.verdict == "safe"


def test_unsafe_image_is_refused_and_never_opened_by_qemu(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.session.qemu = RecordingQemuImg()
    evil = vmdk_flat_absolute(tmp_path)
    open_and_wait(qtbot, window, evil)
    assert window.overview.banner.verdict == "refused"
    assert "/etc/passwd" in window.overview.banner.text()
    assert "What to do" in window.overview.banner.text()
    assert not window.session.qemu.opened(evil)
    assert not window.integrity.button.isEnabled()


def test_reopening_refreshes_instead_of_duplicating(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "a.qcow2", "qcow2", "16M")
    open_and_wait(qtbot, window, path)
    qemu_img("resize", "-f", "qcow2", path, "32M")
    open_and_wait(qtbot, window, path)
    assert window.model.rowCount() == 1
    assert window.model.entry(0).virtual_size == 32 * MiB


def test_snapshots_tab_shows_exact_rows(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "s.qcow2", "qcow2", "16M")
    names = ["first", "second with  spaces", "ünïcødé ✓", "<b>not bold</b>"]
    for name in names:
        qemu_img("snapshot", "-c", name, path)
    open_and_wait(qtbot, window, path)
    proxy = window.snapshots.proxy
    assert [proxy.index(r, 1).data() for r in range(proxy.rowCount())] == names
    assert window.tabs.tabText(1) == "Snapshots (4)"
    window.snapshots.filter.setText("second")
    assert proxy.rowCount() == 1
    assert "second with  spaces" in window.snapshots.selected_text()


def test_backing_chain_tab(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    open_and_wait(qtbot, window, top)
    rows = window.chain.rows()
    assert [r[0] for r in rows] == [str(top), str(tmp_path / "base.qcow2")]
    assert rows[1][1] == "base.qcow2 (relative)"
    assert [r[5] for r in rows] == ["ok", "ok"]
    assert window.overview.banner.verdict == "owned_chain"  # amber: never "safe", and flattenable


def test_allocation_map_shows_data_where_it_was_written(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "data.qcow2", "qcow2", "64M")
    write_pattern(path, "qcow2", 32 * MiB, 4 * MiB)
    open_and_wait(qtbot, window, path)
    window.tabs.setCurrentWidget(window.allocation)
    strip = window.allocation.strip
    strip.resize(640, 60)
    x_data = int(640 * 34 / 64)
    x_empty = int(640 * 10 / 64)
    assert "data from this image" in strip.describe(x_data)
    assert "data" not in strip.describe(x_empty)
    assert "data: 4.0 MiB (4,194,304 bytes)" in window.allocation.totals.text()


def test_integrity_check_explains_leaks(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "leaky.qcow2", "qcow2", "16M")
    patch(path, 131072 + 4, struct.pack(">H", 2))
    open_and_wait(qtbot, window, path)
    window.run_check()
    qtbot.waitUntil(lambda: "leaked" in window.integrity.result.text(), timeout=WAIT_MS)


def test_dropping_a_folder_opens_its_images(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(5):
        create(folder / f"disk{i}.qcow2", "qcow2", "1M")
    qcow2_backing_host_path(folder)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    enter = QDragEnterEvent(
        QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    window.dragEnterEvent(enter)
    assert enter.isAccepted()
    assert window.drop_hint.isVisible()
    drop = QDropEvent(
        QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
        Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
    )  # fmt: skip
    window.dropEvent(drop)
    assert not window.drop_hint.isVisible()
    wait_idle(qtbot, window)
    names = sorted(e.name for e in window.model.entries())
    assert names == ["disk0.qcow2", "disk1.qcow2", "disk2.qcow2", "disk3.qcow2", "disk4.qcow2",
                     "evil.qcow2"]  # fmt: skip
    verdicts = {e.name: e.safe for e in window.model.entries()}
    assert verdicts["evil.qcow2"] is False and verdicts["disk0.qcow2"] is True


def test_pasted_text_is_parsed_into_the_same_views(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from diskscope.gui.dialogs.paste import PasteDialog

    path = create(tmp_path / "other-host.qcow2", "qcow2", "64M")
    qemu_img("snapshot", "-c", "remote snap", path)
    text = qemu_img("info", "-f", "qcow2", path)
    dialog = PasteDialog(window)
    qtbot.addWidget(dialog)
    dialog.edit.setPlainText("this is not qemu-img output")
    dialog.accept()
    assert dialog.error.text() and dialog.info is None
    dialog.edit.setPlainText(text)
    dialog.accept()
    assert dialog.info is not None
    window.add_pasted(dialog.info, text)
    entry = window.current_entry()
    assert entry is not None and entry.state == EntryState.PASTED
    assert window.overview.banner.verdict == "pasted"
    assert window.overview.field("Virtual size") == "64.0 MiB"
    assert window.snapshots.proxy.index(0, 1).data() == "remote snap"


def test_export_writes_what_is_shown(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = create(tmp_path / "e.qcow2", "qcow2", "64M")
    open_and_wait(qtbot, window, path)
    details = window.current_entry().details  # type: ignore[union-attr]
    window.exporter.export_to(str(tmp_path / "out.json"), details)  # type: ignore[arg-type]
    data = json.loads((tmp_path / "out.json").read_text())
    assert data["virtual_size"] == 64 * MiB and data["safe"] is True
    assert data["path"] == window.overview.field("Path")
    window.exporter.export_to(str(tmp_path / "out.md"), details)  # type: ignore[arg-type]
    markdown = (tmp_path / "out.md").read_text()
    assert "# e.qcow2" in markdown and "**Safe to use**" in markdown
    assert "64.0 MiB (67,108,864 bytes)" in markdown


def test_samples_show_every_panel(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.open_samples()
    wait_idle(qtbot, window)
    entries = {e.name: e for e in window.model.entries()}
    assert len(entries) == 6
    assert entries["refused-backing.qcow2"].safe is False
    assert len(entries["snapshots.qcow2"].info.snapshots) == 3  # type: ignore[union-attr]
    assert len(entries["chain-overlay.qcow2"].details.chain) == 2  # type: ignore[union-attr]
    assert any(e.data for e in entries["disk-with-data.raw"].details.extents)  # type: ignore[union-attr]


def test_settings_persist_across_windows(qtbot, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.show()
    first.resize(900, 600)
    first.splitter.setSizes([200, 700])
    settings.parallel_inspections = 3
    first.close()
    second = MainWindow(Settings(settings.store))
    qtbot.addWidget(second)
    second.show()
    assert second.splitter.sizes()[0] == first.splitter.sizes()[0]
    assert second.runner.limit == 3
    second.close()


def test_closing_while_inspections_run_leaves_nothing(qtbot, settings: Settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = child_pids()
    settings.parallel_inspections = 2
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    paths = [create(tmp_path / f"d{i}.qcow2", "qcow2", "1M") for i in range(12)]
    win.open_paths([str(p) for p in paths])
    assert win.runner.pending > 0
    win.close()
    assert win.runner.pending == 0
    assert child_pids() - before == set()


def test_screenshot_mode_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "window.png"
    done = subprocess.run(
        [sys.executable, "-c", "from diskscope.gui.app import main; raise SystemExit(main())",
         "--screenshot", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_display_is_one_sentence() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY",
                                                              "QT_QPA_PLATFORM")}  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-m", "diskscope"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--screenshot" in done.stderr


def test_log_view_shows_recent_lines(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import logging

    from diskscope.gui.dialogs.log_view import LogDialog
    from diskscope.gui.logbuffer import LOG_BUFFER

    logging.getLogger().addHandler(LOG_BUFFER)
    logging.getLogger().setLevel(logging.INFO)
    try:
        open_and_wait(qtbot, window, create(tmp_path / "logged.qcow2", "qcow2", "1M"))
        dialog = LogDialog(window)
        qtbot.addWidget(dialog)
        assert "qemu-img info -f qcow2" in dialog.text.toPlainText()
        assert "logged.qcow2" in dialog.text.toPlainText()
    finally:
        logging.getLogger().removeHandler(LOG_BUFFER)


def test_about_names_the_versions(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    """The About box as Help > About shows it, against versions read independently: the
    installed distributions' metadata and qemu-img's own --version line."""
    from importlib.metadata import version

    from PySide6.QtCore import QTimer, qVersion
    from PySide6.QtWidgets import QApplication, QMessageBox

    shown: list[str] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        if isinstance(box, QMessageBox):
            shown.append(box.text())
            box.accept()
        else:
            QTimer.singleShot(10, read_and_close)

    QTimer.singleShot(0, read_and_close)
    window.about_action.trigger()
    qemu_line = subprocess.run(["qemu-img", "--version"], capture_output=True, text=True, check=True).stdout
    [text] = shown
    assert f"Diskscope {version('diskscope')}<" in text
    assert (
        f"Qt {qVersion()} · PySide6 {version('PySide6_Essentials')} · qemu-img {qemu_line.split()[2]}<"
        in text
    )
