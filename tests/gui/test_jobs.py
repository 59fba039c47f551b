"""Conversion and fetching from the window: real dialogs, real jobs, real qemu-img, a real
HTTP server and a real Glance."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from diskscope.core.convert.request import ConvertRequest
from diskscope.core.fetch.pipeline import FetchRequest
from diskscope.core.sizes import human_size
from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.dialogs.fetch_dialog import FetchDialog, GlanceBrowser
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from glancekit import glance, upload  # noqa: F401 - the fixture
from guikit import WAIT_MS, wait_idle
from httpserver import ImageServer
from imagekit import MiB, qemu_img
from proc import child_pids
from PySide6.QtCore import QElapsedTimer, QTimer


def raw_file(path: Path, size: int, ranges: list[tuple[int, int]]) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in ranges:
            f.seek(offset)
            f.write(bytes([offset // MiB % 250 + 1]) * length)
    return path


def open_and_wait(qtbot, win: MainWindow, path: Path) -> None:  # type: ignore[no-untyped-def]
    win.open_paths([str(path)])
    wait_idle(qtbot, win)


def wait_job(qtbot, win: MainWindow, record) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)


def test_convert_through_the_dialog(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = raw_file(tmp_path / "disk.raw", 32 * MiB, [(0, MiB), (20 * MiB, 2 * MiB)])
    open_and_wait(qtbot, window, source)
    dialog = ConvertDialog(window.current_entry().details.report, window.session.qemu, window.runner,  # type: ignore[union-attr]
                           parent=window)  # fmt: skip
    qtbot.addWidget(dialog)
    dialog.target.setCurrentIndex(dialog.target.findText("qcow2"))
    assert dialog.destination.text() == str(tmp_path / "disk.qcow2")
    qtbot.waitUntil(lambda: dialog.convert_button.isEnabled(), timeout=WAIT_MS)
    assert "qemu-img convert" in dialog.command.text() and "-O qcow2" in dialog.command.text()
    assert "free" in dialog.space.text()
    record = window.launcher.start_convert(dialog.request())
    wait_job(qtbot, window, record)
    assert record.state == JobState.SUCCEEDED, record.message
    out = tmp_path / "disk.qcow2"
    assert json.loads(qemu_img("info", "-f", "qcow2", "--output=json", out))["format"] == "qcow2"
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, out)
    window.jobs_panel.select(record.id)
    assert window.jobs_panel.buttons["Inspect Result"].isEnabled()
    details = window.jobs_panel.details.toPlainText()
    assert "qemu-img info: qcow2" in details
    assert f"Saved as {out}\nFormat: qcow2\nVirtual size: 32.0 MiB\n" in details
    assert any(line.startswith("Command: ") and " convert " in line for line in details.splitlines())
    window.jobs_panel.inspect_result()
    wait_idle(qtbot, window)
    assert "disk.qcow2" in [e.name for e in window.model.entries()]


def test_dialog_blocks_when_it_does_not_fit_or_exists(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = raw_file(tmp_path / "disk.raw", 16 * MiB, [(0, MiB)])
    (tmp_path / "disk.vdi").write_bytes(b"taken")
    open_and_wait(qtbot, window, source)
    dialog = ConvertDialog(window.current_entry().details.report, window.session.qemu, window.runner)  # type: ignore[union-attr]
    qtbot.addWidget(dialog)
    dialog.target.setCurrentIndex(dialog.target.findText("VDI"))
    assert dialog.destination.text() == str(tmp_path / "disk-2.vdi")  # a free name
    dialog.destination.setText(str(tmp_path / "disk.vdi"))
    qtbot.waitUntil(lambda: "exists" in dialog.error.text(), timeout=WAIT_MS)
    assert not dialog.convert_button.isEnabled()


def test_unsafe_source_cannot_be_converted(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    evil = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", evil, "1M")
    open_and_wait(qtbot, window, evil)
    dialog = ConvertDialog(window.current_entry().details.report, window.session.qemu, window.runner)  # type: ignore[union-attr]
    qtbot.addWidget(dialog)
    assert not dialog.convert_button.isEnabled()
    assert "backing file" in dialog.error.text()


def test_cancel_a_running_conversion(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = raw_file(tmp_path / "big.raw", 128 * MiB, [(i * 16 * MiB, 4 * MiB) for i in range(8)])
    before = child_pids()
    record = window.launcher.start_convert(
        ConvertRequest(source, tmp_path / "o.qcow2", "qcow2", rate_limit=4 * MiB)
    )
    qtbot.waitUntil(lambda: record.progress is not None and record.progress.done > 0, timeout=WAIT_MS)
    window.jobs_panel.select(record.id)
    window.jobs_panel.cancel()
    wait_job(qtbot, window, record)
    assert record.state == JobState.CANCELLED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.raw"]
    assert child_pids() - before == set()
    assert window.jobs_panel.buttons["Retry"].isEnabled()


def test_progress_reaches_the_bar(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What the panel shows while the job runs, read off the model at each change it is told
    of: several rising percentages, then 100%. (The rate limit on reports is ProgressMeter's,
    tested on its own clock in tests/core/test_progress.py.)"""
    source = raw_file(tmp_path / "big.raw", 32 * MiB, [(0, 32 * MiB)])  # all data: no jumps over holes
    shown: list[str] = []
    model = window.jobs_panel.model

    def on_change(job_id: int) -> None:
        shown.append(model.index(model.row_of(job_id), 2).data())

    window.jobs.changed.connect(on_change)
    record = window.launcher.start_convert(
        ConvertRequest(source, tmp_path / "o.qcow2", "qcow2", rate_limit=8 * MiB)
    )
    wait_job(qtbot, window, record)
    window.jobs.changed.disconnect(on_change)
    assert record.state == JobState.SUCCEEDED
    percents = [int(text[:-1]) for text in shown if text and text.endswith("%")]
    running = [p for p in percents if 0 < p < 100]
    assert len(set(running)) >= 3, shown
    assert running == sorted(running), shown
    assert model.index(model.row_of(record.id), 2).data() == "100%"
    assert model.index(model.row_of(record.id), 3).data() == f"{human_size(record.result.disk_usage)} on disk"


def test_fetch_with_a_wrong_checksum_fails_and_leaves_nothing(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    server.files["disk.img"] = b"\x01" * MiB
    dialog = FetchDialog(window.settings, window.runner, server.url("disk.img"))
    qtbot.addWidget(dialog)
    dialog.folder.setText(str(tmp_path))
    dialog.checksum.setText("sha256:" + "0" * 64)
    request = dialog.validate()
    assert request is not None
    record = window.launcher.start_fetch(request)
    wait_job(qtbot, window, record)
    assert record.state == JobState.FAILED
    assert "sha256" in record.message and "0" * 64 in record.message
    row = window.jobs_panel.model.row_of(record.id)
    assert window.jobs_panel.model.index(row, 1).data() == "failed"
    window.jobs_panel.select(record.id)
    assert f"Error: {record.message}" in window.jobs_panel.details.toPlainText()
    assert not window.jobs_panel.buttons["Retry"].isEnabled()  # the same bytes fail the same way
    assert list(tmp_path.iterdir()) == []


def test_fetch_dialog_explains_bad_fields(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    dialog = FetchDialog(window.settings, window.runner, "ftp://example/x")
    qtbot.addWidget(dialog)
    dialog.checksum.setText("sha256:xyz")
    dialog.folder.setText(str(tmp_path / "missing"))
    assert dialog.validate() is None
    assert "http" in dialog.errors["url"].text()
    assert "digest" in dialog.errors["checksum"].text()
    assert "does not exist" in dialog.errors["folder"].text()
    dialog.url.setText("http://127.0.0.1:1/disk.img")
    dialog.checksum.setText("")
    dialog.folder.setText(str(tmp_path))
    request = dialog.validate()  # no checksum: the list published beside the image decides
    assert request is not None and request.checksums_auto and dialog.errors["checksum"].text() == ""
    assert dialog.token.echoMode() == dialog.token.EchoMode.Password


def test_fetch_to_raw_and_inspect_the_result(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    raw = raw_file(tmp_path / "src.raw", 16 * MiB, [(0, MiB), (8 * MiB, MiB)])
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw, tmp_path / "src.qcow2")
    data = (tmp_path / "src.qcow2").read_bytes()
    server.files["cloud.qcow2"] = data
    out = tmp_path / "out"
    out.mkdir()
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    record = window.launcher.start_fetch(FetchRequest(server.url("cloud.qcow2"), out, checksum=checksum))
    wait_job(qtbot, window, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (out / "cloud.raw").read_bytes() == raw.read_bytes()
    window.jobs_panel.select(record.id)
    window.jobs_panel.inspect_result()
    wait_idle(qtbot, window)
    entry = window.model.entry(window.model.row_of(str(out / "cloud.raw")))
    assert entry.safe and entry.format_text == "raw"


def test_browse_a_real_glance_and_fetch(qtbot, window: MainWindow, glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    image_id = upload(glance, "browse-me", b"\x07" * (2 * MiB), "raw")
    dialog = FetchDialog(window.settings, window.runner, glance.endpoint)
    qtbot.addWidget(dialog)
    dialog.token.setText(glance.token)
    from diskscope.core.cloud.glance import GlanceClient

    browser = GlanceBrowser(GlanceClient(glance.endpoint, dialog.http_options()), window.runner, dialog)
    qtbot.addWidget(browser)
    qtbot.waitUntil(lambda: browser.model.rowCount() > 0, timeout=WAIT_MS)
    browser.filter.setText("browse-me")
    assert browser.proxy.rowCount() == 1
    browser.table.selectRow(0)
    browser.accept()
    assert browser.chosen is not None and browser.chosen.id == image_id
    dialog.url.setText(browser.client.file_url(browser.chosen).removesuffix("/file"))
    dialog.folder.setText(str(tmp_path))
    request = dialog.validate()
    assert request is not None
    record = window.launcher.start_fetch(request)
    wait_job(qtbot, window, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (tmp_path / "browse-me.raw").read_bytes() == b"\x07" * (2 * MiB)


def test_closing_with_a_running_job_leaves_nothing(qtbot, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    before = child_pids()
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    asked: list[int] = []
    win.confirm_close = lambda n: asked.append(n) or True
    work = tmp_path / "work"
    work.mkdir()
    source = raw_file(work / "big.raw", 128 * MiB, [(i * 16 * MiB, 4 * MiB) for i in range(8)])
    record = win.launcher.start_convert(ConvertRequest(source, work / "o.qcow2", "qcow2", rate_limit=2 * MiB))
    qtbot.waitUntil(lambda: record.progress is not None and record.progress.done > 0, timeout=WAIT_MS)
    win.close()
    assert asked == [1]
    assert record.state == JobState.CANCELLED
    assert sorted(p.name for p in work.iterdir()) == ["big.raw"]
    assert child_pids() - before == set()


def test_declining_to_close_keeps_the_job(qtbot, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    win.confirm_close = lambda n: False
    before = child_pids()
    work = tmp_path / "work"
    work.mkdir()
    source = raw_file(work / "big.raw", 64 * MiB, [(i * 8 * MiB, 2 * MiB) for i in range(8)])
    record = win.launcher.start_convert(ConvertRequest(source, work / "o.qcow2", "qcow2", rate_limit=2 * MiB))
    qtbot.waitUntil(lambda: record.state != JobState.QUEUED, timeout=WAIT_MS)  # 16 MiB at 2 MiB/s: ~8 s
    win.close()
    assert win.isVisible() and record.state == JobState.RUNNING, (record.state, record.message, record.log)
    wait_job(qtbot, win, record)  # the declined close left it running: it ends on its own
    assert record.state == JobState.SUCCEEDED, record.message
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, work / "o.qcow2")
    win.confirm_close = lambda n: True
    win.close()
    assert not win.isVisible()
    assert sorted(p.name for p in work.iterdir()) == ["big.raw", "o.qcow2"]
    assert child_pids() - before == set()


def test_ui_keeps_processing_events_during_a_convert_and_a_download(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A generous bound, only to catch a blocked UI thread; the real figure is a benchmark."""
    data = bytes(range(256)) * (64 * 1024)  # 16 MiB
    server.files["big.img"] = data
    source = raw_file(tmp_path / "big.raw", 64 * MiB, [(i * 8 * MiB, 2 * MiB) for i in range(8)])
    out = tmp_path / "out"
    out.mkdir()
    gaps: list[int] = []
    clock = QElapsedTimer()
    clock.start()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    timer.start()
    convert = window.launcher.start_convert(
        ConvertRequest(source, tmp_path / "o.qcow2", "qcow2", rate_limit=16 * MiB)
    )
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    fetch = window.launcher.start_fetch(
        FetchRequest(server.url("big.img", "slow"), out, checksum=checksum, to_raw=False)
    )
    qtbot.waitUntil(lambda: convert.finished and fetch.finished, timeout=WAIT_MS)
    timer.stop()
    assert convert.state == fetch.state == JobState.SUCCEEDED
    assert len(gaps) > 20
    assert max(gaps[1:]) < 1000, f"the UI thread stalled for {max(gaps)} ms"


def test_an_interrupted_fetch_resumes_from_the_panel(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * (16 * 1024)  # 4 MiB
    server.files["d.img"] = data
    checksum = "sha256:" + hashlib.sha256(data).hexdigest()
    request = FetchRequest(server.url("d.img", "cut"), tmp_path, checksum=checksum, to_raw=False, retries=0)
    record = window.launcher.start_fetch(request)
    wait_job(qtbot, window, record)
    assert record.state == JobState.FAILED and "resume" in record.message
    window.jobs_panel.select(record.id)
    assert record.resumable and window.jobs_panel.buttons["Retry"].text() == "Resume"
    window.jobs_panel.retry()
    wait_job(qtbot, window, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert record.result.download.resumed_from == len(data) // 2
    assert (tmp_path / "d.img").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.img"]


def test_fetch_dialog_names_the_file_before_the_download(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """The name is filled from the URL (only a known image extension is replaced), follows
    "Convert to raw" until the user types one, and a typed name is used as it is."""
    data = b"\x01" * MiB
    server.files["cirros-0.6.2.img"] = data
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.url, server.url("cirros-0.6.2.img"))
    dialog.to_raw.setChecked(True)
    assert dialog.name.text() == "cirros-0.6.2.raw"
    dialog.to_raw.setChecked(False)
    assert dialog.name.text() == "cirros-0.6.2.img"
    dialog.name.clear()
    qtbot.keyClicks(dialog.name, "mine.raw")
    dialog.to_raw.setChecked(True)
    assert dialog.name.text() == "mine.raw"  # a typed name stays
    dialog.folder.setText(str(tmp_path))
    dialog.checksum.setText("sha256:" + hashlib.sha256(data).hexdigest())
    request = dialog.validate()
    assert request is not None and request.destination == tmp_path / "mine.raw"
    record = window.launcher.start_fetch(request)
    wait_job(qtbot, window, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (tmp_path / "mine.raw").read_bytes() == data
    dialog.name.setText("../elsewhere.raw")
    assert dialog.validate() is None
    assert "not a path" in dialog.errors["name"].text()
