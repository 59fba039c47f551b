"""Upload to Glance from the window, against the real Glance 33 (tests/glancekit.py): the
action on a listed image opens the dialog (disk format fixed by the inspection, the
image's suggested properties with their reasons), the upload runs as a job, and "Open in
Browser" shows the new image selected; a file dropped on the Glance browser opens the same
dialog for that browser's Glance; an unsafe image cannot be sent; Cancel in the jobs panel
removes the record."""

# ruff: noqa: F811 - `glance` is the session fixture imported from glancekit, used by name
from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import requests
from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.cloud.upload import UploadMethod, UploadRequest
from diskscope.core.fetch.http import HttpOptions
from diskscope.gui.dialogs.fetch_dialog import GlanceBrowser
from diskscope.gui.dialogs.upload_dialog import UploadDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from glancekit import glance  # noqa: F401 - the fixture
from glanceproxy import Faults, proxy
from guikit import WAIT_MS, wait_idle, when_modal
from imagekit import gpt_disk_with_esp
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QDialog

MiB = 1 << 20


def fill_and_upload(
    seen: dict[str, object], endpoint: str = "", token: str = ""
) -> Callable[[QDialog], bool]:
    def act(dialog: QDialog) -> bool:
        assert isinstance(dialog, UploadDialog)
        if not dialog.upload_button.isEnabled():
            return False  # still inspecting
        seen["format"] = dialog.disk_format.text()
        seen["suggested"] = [dialog.suggestions.item(i).text() for i in range(dialog.suggestions.count())]
        if endpoint:
            dialog.endpoint.setText(endpoint)
            dialog.token.setText(token)
        dialog.visibility.setCurrentText("community")
        dialog.properties.setText("os_distro=debian12")
        dialog.upload_button.click()
        return True

    return act


def record_of(glance, image_id: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    answer = requests.get(f"{glance.endpoint}/v2/images/{image_id}", timeout=30,
                          headers={"X-Auth-Token": glance.token})  # fmt: skip
    result: dict[str, object] = answer.json()
    return result


def test_upload_action_job_and_open_in_browser(qtbot, window: MainWindow, glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    disk = gpt_disk_with_esp(tmp_path / "efi-disk.raw")
    window.open_paths([str(disk)])
    wait_idle(qtbot, window)
    window.list.setCurrentIndex(window.model.index(0, 0))
    seen: dict[str, object] = {}
    filler = when_modal(UploadDialog, fill_and_upload(seen, glance.endpoint, glance.token))
    window.upload_action.trigger()
    qtbot.waitUntil(lambda: not filler.isActive(), timeout=WAIT_MS)
    assert seen["format"] == "raw"
    assert seen["suggested"] == ["hw_firmware_type=uefi  (partition 2 of the GPT is an EFI system partition)"]
    record = window.jobs_panel.current()
    assert record is not None and record.kind == "upload"
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    image = record.result.image
    stored = record_of(glance, image.id)
    assert stored["hw_firmware_type"] == "uefi" and stored["os_distro"] == "debian12"
    assert stored["visibility"] == "community"
    assert stored["os_hash_value"] == hashlib.sha512(disk.read_bytes()).hexdigest()
    details = window.jobs_panel.details.toPlainText()
    assert f"Uploaded to Glance as efi-disk.raw ({image.id}), active" in details
    button = window.jobs_panel.buttons["Open in Browser"]
    assert button.isEnabled() and not window.jobs_panel.buttons["Inspect Result"].isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    browser = window.launcher.glance_browser
    qtbot.waitUntil(lambda: browser.table.selectionModel().hasSelection(), timeout=WAIT_MS)
    row = browser.proxy.mapToSource(browser.table.selectionModel().selectedRows()[0]).row()
    assert browser.model.image(row).id == image.id
    browser.reject()


def test_a_file_dropped_on_the_glance_browser_is_uploaded_there(qtbot, window: MainWindow, glance,
                                                                tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    source = tmp_path / "dropped.raw"
    source.write_bytes(b"\x07" * (3 * MiB))
    client = GlanceClient(glance.endpoint, HttpOptions(token=glance.token))
    browser = GlanceBrowser(client, window.runner, window)
    qtbot.addWidget(browser)
    browser.upload_requested.connect(window.launcher.open_upload)
    browser.show()
    wait_idle(qtbot, window)
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(source))])
    seen: dict[str, object] = {}
    filler = when_modal(UploadDialog, fill_and_upload(seen))
    at, action, button, keys = (
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    enter = QDragEnterEvent(at, action, data, button, keys)
    browser.dragEnterEvent(enter)  # as in test_window: Qt delivers no drop without a real drag
    assert enter.isAccepted()
    browser.dropEvent(QDropEvent(at, action, data, button, keys))
    qtbot.waitUntil(lambda: not filler.isActive(), timeout=WAIT_MS)
    record = window.jobs_panel.current()
    assert record is not None
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    assert glance.image_file(record.result.image.id).read_bytes() == source.read_bytes()


def test_an_unsafe_image_cannot_be_sent(qtbot, window: MainWindow, glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = tmp_path / "notes.img"
    text.write_text("not a disk\n" * 100)
    client = GlanceClient(glance.endpoint, HttpOptions(token=glance.token))
    qemu = window.session.qemu
    assert qemu is not None
    dialog = UploadDialog(text, qemu, window.runner, window.settings, client, window)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: dialog.error.text() != "", timeout=WAIT_MS)
    assert dialog.error.text().startswith("Refused: ") and not dialog.upload_button.isEnabled()


def test_cancel_in_the_jobs_panel_removes_the_record(
    qtbot, window: MainWindow, glance, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "slow.raw"
    source.write_bytes(b"\x09" * (24 * MiB))
    with proxy(glance.endpoint, Faults(rate=2 * MiB)) as endpoint:  # a slow link, for time to cancel
        client = GlanceClient(endpoint, HttpOptions(token=glance.token))
        request = UploadRequest(source, name="gui-cancelled", method=UploadMethod.PUT)
        record = window.launcher.start_upload(request, lambda: client)
        qtbot.waitUntil(lambda: record.phase == "uploading", timeout=WAIT_MS)
        qtbot.mouseClick(window.jobs_panel.buttons["Cancel"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.CANCELLED
    assert record.message.startswith("The upload was cancelled. The image gui-cancelled (")
    assert record.message.endswith("was removed from Glance.")
    listed = GlanceClient(glance.endpoint, HttpOptions(token=glance.token)).images()
    assert "gui-cancelled" not in [i.name for i in listed]
