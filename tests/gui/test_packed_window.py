"""The window with compressed images and signed checksum files: a dropped .xz shows the
image inside; a folder's signed SHA256SUMS shows who signed it, or why it was refused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.dialogs.fetch_dialog import FetchDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from diskscope.gui.settings import Settings
from gpgkit import Signer, make_signer
from guikit import WAIT_MS, drop, wait_idle
from httpserver import ImageServer
from imagekit import create
from packkit import compress
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("gpg") / "home")


def signed_folder(folder: Path, signer: Signer) -> tuple[Path, Path]:
    image = compress(create(folder / "disk.qcow2", "qcow2", "64M"), "xz")
    (folder / "disk.qcow2").unlink()
    sums = folder / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(image.read_bytes()).hexdigest()}  {image.name}\n")
    signer.detach_sign(sums)
    return image, sums


def test_a_dropped_compressed_image_shows_the_image_inside(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = compress(create(tmp_path / "disk.qcow2", "qcow2", "1G"), "zstd", tmp_path / "download")
    drop(qtbot, window, image)
    overview = window.overview
    assert overview.banner.verdict == "safe"
    assert "Safe by its headers" in overview.banner.text() and "zstd" in overview.banner.text()
    assert overview.field("Format") == "qcow2 in zstd"
    assert overview.field("Virtual size") == "1.0 GiB"
    assert overview.field("Packed as").startswith("zstd, ")
    assert overview.values["Packed as"].isVisible()
    assert window.current_entry().details.commands == ()  # type: ignore[union-attr]


def test_a_signed_sums_file_names_its_signer(
    qtbot, window: MainWindow, settings: Settings, signer: Signer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    signed_folder(folder, signer)
    settings.keyring = str(signer.keyring(tmp_path / "keys.gpg"))
    window.open_paths([str(folder)])
    wait_idle(qtbot, window)
    names = [e.name for e in window.model.entries()]
    window.list.setCurrentIndex(window.model.index(names.index("disk.qcow2.xz"), 0))
    text = window.overview.checksum.text()
    assert text == (f"Checksum: sha256 matches SHA256SUMS (signed by {signer.uid} "
                    f"(key {signer.fingerprint()})).")  # fmt: skip
    assert window.overview.checksum.property("matches") is True


def test_a_tampered_sums_file_is_refused_in_red(
    qtbot, window: MainWindow, settings: Settings, signer: Signer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    image, sums = signed_folder(folder, signer)
    with open(sums, "a") as f:
        f.write(f"{'0' * 64}  other.img\n")
    settings.keyring = str(signer.keyring(tmp_path / "keys.gpg"))
    drop(qtbot, window, image)
    assert window.overview.checksum.property("matches") is False
    assert window.overview.checksum.text() == (
        "Checksum file refused: The checksum file's signature was refused: it is bad "
        "(the file was changed after it was signed)."
    )


def test_converting_a_compressed_image_says_why_no_command_is_shown(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A blank Command box looked broken at a real display: it now says when the command is known."""
    image = compress(create(tmp_path / "disk.qcow2", "qcow2", "64M"), "xz", tmp_path / "packed")
    drop(qtbot, window, image)
    seen: dict[str, object] = {}

    def look() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConvertDialog) or not dialog.space.text().startswith("decompressed"):
            QTimer.singleShot(20, look)
            return
        seen["text"] = dialog.command.text()
        seen["placeholder"] = dialog.command.placeholderText()
        seen["space"] = dialog.space.text()
        dialog.reject()

    QTimer.singleShot(0, look)
    window.convert_action.trigger()
    assert seen["text"] == ""
    assert seen["placeholder"] == "known once the image is decompressed"
    assert str(seen["space"]).startswith("decompressed from xz first")


def test_fetch_dialog_names_a_compressed_download_as_it_lands(
    qtbot, window: MainWindow, server: ImageServer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """At a real display the dialog offered `disk.qcow2.xz.raw` while the fetch wrote `disk.raw`:
    the name shown is now the name the file gets."""
    image = compress(create(tmp_path / "disk.qcow2", "qcow2", "64M"), "xz", tmp_path / "disk.qcow2.xz")
    server.files["disk.qcow2.xz"] = image.read_bytes()
    folder = tmp_path / "into"
    folder.mkdir()
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.keyClicks(dialog.url, server.url("disk.qcow2.xz"))
    dialog.to_raw.setChecked(False)
    assert dialog.name.text() == "disk.qcow2"
    dialog.to_raw.setChecked(True)
    assert dialog.name.text() == "disk.raw"
    dialog.folder.setText(str(folder))
    dialog.checksum.setText("sha256:" + hashlib.sha256(image.read_bytes()).hexdigest())
    request = dialog.validate()
    assert request is not None
    record = window.launcher.start_fetch(request)
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    assert [p.name for p in folder.iterdir()] == [dialog.name.text()]


@pytest.mark.parametrize("tampered", [False, True])
def test_a_fetch_without_a_checksum_uses_the_signed_list_beside_the_url(
    qtbot,
    window: MainWindow,
    settings: Settings,
    server: ImageServer,
    signer: Signer,
    tmp_path: Path,
    tampered: bool,
) -> None:  # type: ignore[no-untyped-def]
    """At a real display the Fetch dialog refused a URL with a signed SHA256SUMS beside it until
    a checksum was pasted or "unverified" ticked; it now fetches the list, as `--checksums auto`."""
    image, sums = signed_folder(tmp_path, signer)
    if tampered:  # the list is changed after signing: gpgv refuses it, nothing is kept
        sums.write_text(sums.read_text().replace(image.name, "other.qcow2.xz"))
    for path in (image, sums, sums.with_name("SHA256SUMS.gpg")):
        server.files[path.name] = path.read_bytes()
    settings.keyring = str(signer.keyring(tmp_path / "keys.gpg"))
    folder = tmp_path / "into"
    folder.mkdir()
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    qtbot.keyClicks(dialog.url, server.url(image.name))
    dialog.folder.setText(str(folder))
    request = dialog.validate()
    assert request is not None and request.checksums_auto and request.keyring == tmp_path / "keys.gpg"
    record = window.launcher.start_fetch(request)
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    if tampered:
        assert record.state == JobState.FAILED
        assert list(folder.iterdir()) == []
    else:
        assert record.state == JobState.SUCCEEDED, record.message
        assert [p.name for p in folder.iterdir()] == ["disk.raw"]
