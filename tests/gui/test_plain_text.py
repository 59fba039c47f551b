"""Names and messages chosen by others show as plain text in every label, tooltip and
message box: a file named `<b>x.qcow2` shows its tag, never in bold (a file name cannot
hold the `/` of a closing tag; an open one makes Qt render the rest in bold). A token that
could not be sent is refused without being shown. Real images made by qemu-img, a real
hostile server, the real window (offscreen)."""

from __future__ import annotations

from pathlib import Path

from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.fetch.http import HttpOptions
from diskscope.core.fetch.pipeline import FetchRequest
from diskscope.gui.dialogs.fetch_dialog import FetchDialog, GlanceBrowser
from diskscope.gui.jobs import JobState
from diskscope.gui.logbuffer import LOG_BUFFER
from diskscope.gui.main_window import MainWindow
from guikit import WAIT_MS, wait_idle
from hostile import Handler, hostile
from imagekit import qemu_img
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QPushButton

NAME, BACKING = "<b>x.qcow2", "<i>y</i>"


def rendered(text: str, text_format: Qt.TextFormat = Qt.TextFormat.AutoText) -> str:
    """What a person sees: rich text is rendered, plain text is shown as it is."""
    plain = text_format == Qt.TextFormat.PlainText
    if plain or (text_format == Qt.TextFormat.AutoText and not GuiQt.mightBeRichText(text)):
        return text
    document = QTextDocument()
    document.setHtml(text)
    return document.toPlainText()


def open_hostile(qtbot, window: MainWindow, folder: Path) -> Path:  # type: ignore[no-untyped-def]
    path = folder / NAME
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", BACKING, "-F", "raw", path, "1M")
    window.open_paths([str(path)])
    wait_idle(qtbot, window)
    return path


def test_every_label_shows_the_names_literally(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = open_hostile(qtbot, window, tmp_path)
    assert window.overview.banner.verdict == "refused"
    shown = {label: rendered(label.text(), label.textFormat()) for label in window.findChildren(QLabel)}
    naming = [label for label in shown if any(t in label.text() for t in ("<b>x", "&lt;b&gt;x",
                                                                          "y</i>", "y&lt;/i&gt;"))]  # fmt: skip
    assert window.overview.values["Path"] in naming and window.overview.banner in naming
    for label in naming:
        assert NAME in shown[label] or BACKING in shown[label], (label.objectName(), label.text())
    assert shown[window.overview.values["Path"]] == str(path)
    assert f"backing file ('{BACKING}')" in shown[window.overview.banner]
    tooltip = window.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert rendered(tooltip) == str(path)
    assert window.windowTitle() == f"{NAME} — Diskscope"
    assert f"{BACKING} (relative)" in window.chain.rows()[1]  # tree items are plain text


def test_a_message_box_shows_the_name_literally(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    open_hostile(qtbot, window, tmp_path)
    details = window.model.entry(0).details
    assert details is not None
    seen: list[tuple[Qt.TextFormat, str]] = []

    def read_and_close() -> None:
        box = QApplication.activeModalWidget()
        if not isinstance(box, QMessageBox):  # not shown yet
            QTimer.singleShot(10, read_and_close)
            return
        seen.append((box.textFormat(), box.text()))
        box.close()

    QTimer.singleShot(0, read_and_close)
    window.exporter.export_to(str(tmp_path / "<b>z" / "report.md"), details)  # no such folder
    qtbot.waitUntil(lambda: bool(seen), timeout=WAIT_MS)
    text_format, text = seen[0]
    assert "<b>z/report.md" in rendered(text, text_format)


def test_the_glance_browser_shows_a_server_message_literally(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    def answer(handler: Handler) -> None:
        handler.send(500, b"", reason="<b>boom</b>")

    with hostile(answer) as server:
        browser = GlanceBrowser(GlanceClient(server.url(""), HttpOptions()), window.runner, window)
        qtbot.addWidget(browser)
        qtbot.waitUntil(lambda: browser.status.text() != "Listing…", timeout=WAIT_MS)
    status = rendered(browser.status.text(), browser.status.textFormat())
    assert status == "The server answered 500 <b>boom</b> for the image list."


def test_the_fetch_dialog_refuses_a_token_that_cannot_be_sent(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    dialog = FetchDialog(window.settings, window.runner, "http://127.0.0.1:9/disk.img", window)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.folder.setText(str(tmp_path))
    dialog.unverified.setChecked(True)
    qtbot.keyClicks(dialog.token, "s3cret with a space")
    fetch = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Fetch")
    qtbot.mouseClick(fetch, Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and dialog.fetch_request is None
    assert dialog.errors["token"].text() == (
        "The token is not a token: a token is one line of printable ASCII characters without spaces."
    )
    assert "s3cret" not in dialog.errors["token"].text()


def test_a_fetch_job_never_shows_the_query_string(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = bytes(range(256)) * 4096

    def answer(handler: Handler) -> None:
        handler.send(200, data, {"Content-Type": "application/octet-stream"})

    with hostile(answer) as server:
        url = server.url("/disk.img?temp_url_sig=S3CRETSIG")
        record = window.launcher.start_fetch(FetchRequest(url, tmp_path, to_raw=False, allow_unverified=True))
        qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (tmp_path / "disk.img").read_bytes() == data
    model = window.jobs_panel.model
    row = model.row_of(record.id)
    shown = [model.index(row, c).data(role) for c in range(model.columnCount())
             for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole)]  # fmt: skip
    shown += [window.statusBar().currentMessage(), window.jobs_panel.details.toPlainText(), LOG_BUFFER.text()]
    assert "disk.img" in str(shown)
    assert "S3CRETSIG" not in str(shown)
