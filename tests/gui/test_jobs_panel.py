"""The jobs panel as a task list: real fetches from a real HTTP server, the panel's buttons
clicked, the rows read as a user reads them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.core.fetch.pipeline import FetchRequest
from diskscope.gui.jobs import JobRecord, JobState
from diskscope.gui.main_window import MainWindow
from diskscope.gui.models.jobs import JobsModel
from guikit import WAIT_MS, wait_idle
from httpserver import ImageServer, serving
from imagekit import create, qemu_img
from PySide6.QtCore import Qt

MiB = 1 << 20


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serving() as s:
        yield s


def cell(win: MainWindow, record: JobRecord, column: int) -> str:
    model = win.jobs_panel.model
    return str(model.index(model.row_of(record.id), column).data() or "")


def press(qtbot, win: MainWindow, record: JobRecord, button: str) -> None:  # type: ignore[no-untyped-def]
    win.jobs_panel.select(record.id)
    widget = win.jobs_panel.buttons[button]
    assert widget.isEnabled(), f"{button} is disabled"
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton)


def finished(qtbot, record: JobRecord) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_cancelled_download_keeps_its_share_and_resumes(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * (16 * 1024)  # 4 MiB
    server.files["d.img"] = data
    server.drip_after, server.drip_seconds = MiB // 2, 0.5
    record = window.launcher.start_fetch(
        FetchRequest(server.url("d.img"), tmp_path, checksum=sha256(data), to_raw=False)
    )
    window.jobs_dock.hide()  # the status bar still tells how the jobs go
    qtbot.waitUntil(lambda: record.last_fraction is not None and record.last_fraction > 0.1, timeout=WAIT_MS)
    assert window.jobs_progress.isVisible()
    window.open_paths([str(create(tmp_path / "other.qcow2", "qcow2", "1M"))])
    wait_idle(qtbot, window)
    assert window.statusBar().currentMessage() == "1 job(s) running."
    window.jobs_dock.show()
    press(qtbot, window, record, "Cancel")
    finished(qtbot, record)
    assert record.state == JobState.CANCELLED
    assert not window.jobs_progress.isVisible()
    share = f"{record.last_fraction * 100:.0f}%"  # type: ignore[operator]
    assert share != "0%" and cell(window, record, JobsModel.PROGRESS) == share
    assert cell(window, record, JobsModel.STATUS) == "cancelled"
    assert window.jobs_panel.buttons["Retry"].text() == "Resume"
    details = window.jobs_panel.details.toPlainText()
    assert "kept" in details and "Resume continues" in details and "cancelled" in details
    server.drip_after = None
    press(qtbot, window, record, "Retry")
    finished(qtbot, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert record.result.download.resumed_from > 0
    assert (tmp_path / "d.img").read_bytes() == data


def test_a_finished_fetch_reads_like_a_task_list(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data = create(tmp_path / "src.qcow2", "qcow2", "8M").read_bytes()
    server.files["cloud.qcow2"] = data
    out = tmp_path / "out"
    out.mkdir()
    seen: set[tuple[str, str, str]] = set()
    record = window.launcher.start_fetch(FetchRequest(server.url("cloud.qcow2"), out, checksum=sha256(data)))

    def look(_job_id: int) -> None:
        seen.add(
            tuple(cell(window, record, c) for c in (JobsModel.STATUS, JobsModel.PROGRESS, JobsModel.BYTES))
        )  # type: ignore[arg-type]

    window.jobs.changed.connect(look)
    finished(qtbot, record)
    window.jobs.changed.disconnect(look)
    assert record.state == JobState.SUCCEEDED, record.message
    assert ("verifying", "verifying…", "") in seen or ("inspecting", "inspecting…", "") in seen
    assert not [s for s in seen if s[2] == "0 B"]
    assert record.name == "fetch cloud.raw"
    assert cell(window, record, JobsModel.STATUS) == "done"
    assert cell(window, record, JobsModel.STARTED) and cell(window, record, JobsModel.DURATION)
    window.jobs_panel.select(record.id)
    details = window.jobs_panel.details.toPlainText()
    assert "{" not in details, "a JSON dump"
    assert f"Saved as {out / 'cloud.raw'}" in details
    assert "Format: raw (downloaded as qcow2, converted)" in details
    assert "Verified by: sha256 (you)" in details
    assert "Started " in details and ", ended " in details and "Log:" in details


def test_names_are_told_apart_and_a_glance_id_becomes_a_name(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    records = [window.launcher.start_fetch(FetchRequest(server.url("cloud.qcow2"), tmp_path, allow_unverified=True))
               for _ in range(3)]  # fmt: skip
    for record in records:
        finished(qtbot, record)
    assert [r.name for r in records] == [
        "fetch cloud.qcow2",
        "fetch cloud.qcow2 (2)",
        "fetch cloud.qcow2 (3)",
    ]
    data = b"\x00" * MiB
    image_id = "0f0e0d0c-0b0a-4908-8706-050403020100"
    server.files[image_id] = data
    server.glance_images[image_id] = {
        "id": image_id, "name": "debian-12", "status": "active", "disk_format": "raw",
        "container_format": "bare", "size": len(data), "checksum": hashlib.md5(data).hexdigest(),
    }  # fmt: skip
    record = window.launcher.start_fetch(FetchRequest(f"{server.base}/v2/images/{image_id}", tmp_path))
    assert record.name == f"fetch Glance image {image_id}"
    finished(qtbot, record)
    assert record.state == JobState.SUCCEEDED, record.message
    assert record.name == "fetch debian-12.raw"
    assert (tmp_path / "debian-12.raw").read_bytes() == data


def test_retry_is_not_offered_for_a_refused_image(
    qtbot, qtmodeltester, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    evil = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", evil, "1M")
    data = evil.read_bytes()
    server.files["evil.qcow2"] = data
    out = tmp_path / "out"
    out.mkdir()
    record = window.launcher.start_fetch(FetchRequest(server.url("evil.qcow2"), out, checksum=sha256(data)))
    finished(qtbot, record)
    assert record.state == JobState.FAILED
    window.jobs_panel.select(record.id)
    assert not window.jobs_panel.buttons["Retry"].isEnabled()
    details = window.jobs_panel.details.toPlainText()
    assert f"Error: {record.message}" in details and "cannot help" in details
    assert cell(window, record, JobsModel.STATUS) == "failed"
    # A failure that the next run can fix still offers Retry: the server had nothing yet.
    # Another download's kept .part in the same folder does not make this one resumable.
    (out / "other.img.part").write_bytes(b"x")
    (out / "other.img.part.meta").write_text("{}")
    missing = window.launcher.start_fetch(FetchRequest(server.url("later.img"), out, allow_unverified=True))
    finished(qtbot, missing)
    assert missing.state == JobState.FAILED
    window.jobs_panel.select(missing.id)
    assert window.jobs_panel.buttons["Retry"].isEnabled()
    assert window.jobs_panel.buttons["Retry"].text() == "Retry"
    qtmodeltester.check(window.jobs_panel.model)  # with a failed row of each kind
