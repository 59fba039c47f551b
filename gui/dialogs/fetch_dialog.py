"""Fetch: a URL or Glance image, a token kept for the session, a checksum, a destination,
and "convert to raw"; every field is checked before the job starts."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from diskscope.core.checksums import parse_checksum
from diskscope.core.errors import DiskscopeError
from diskscope.core.glance import GlanceClient, GlanceImage, parse_image_url
from diskscope.core.http import HttpOptions, InvalidToken, check_token
from diskscope.core.pipeline import FetchRequest
from diskscope.gui.models.glance_images import GlanceImagesModel
from diskscope.gui.models.table import filter_proxy
from diskscope.gui.plain_text import PlainLabel
from diskscope.gui.settings import Settings
from diskscope.gui.workers import TaskRunner
from PySide6.QtCore import Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

SESSION_TOKENS: dict[str, str] = {}  # endpoint host -> token, for this session only


def _keyring() -> Any:
    """The system keyring, where one is installed and usable; else None."""
    try:
        import keyring

        keyring.get_keyring()
        return keyring
    except Exception:
        return None


def _host(url: str) -> str:
    match = re.match(r"^https?://([^/]+)", url.strip())
    return match[1] if match else ""


def _error_label() -> QLabel:
    label = PlainLabel()  # messages may quote what was typed
    label.setStyleSheet("color: #b91c1c")
    label.setWordWrap(True)
    return label


class FetchDialog(QDialog):
    def __init__(self, settings: Settings, runner: TaskRunner, url: str = "",
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Fetch an image")
        self.settings, self.runner = settings, runner
        self.fetch_request: FetchRequest | None = None
        self.url = QLineEdit(url)
        self.url.setAccessibleName("Image URL")  # its row is a layout: no buddy label
        self.url.setPlaceholderText("https://host/image.qcow2  or  https://glance:9292/v2/images/ID")
        browse_glance = QPushButton("Browse…")
        browse_glance.setToolTip("List the images of a Glance endpoint and pick one")
        browse_glance.clicked.connect(self.browse_glance)
        url_row = QHBoxLayout()
        url_row.addWidget(self.url)
        url_row.addWidget(browse_glance)
        self.token = QLineEdit(SESSION_TOKENS.get(_host(url), ""))
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("X-Auth-Token (Glance); kept for this session only")
        self.remember = QCheckBox("Remember the token in the system keyring")
        if _keyring() is None:
            self.remember.setEnabled(False)
            self.remember.setToolTip(
                "No system keyring is available; the token is never written in plain text."
            )
        self.checksum = QLineEdit()
        self.checksum.setPlaceholderText("sha256:HEX (Glance images carry their own)")
        self.unverified = QCheckBox("Accept the download unverified if nothing can check it")
        self.folder = QLineEdit(settings.destination_folder)
        self.folder.setAccessibleName("Save into")
        choose = QPushButton("Choose…")
        choose.clicked.connect(self._choose_folder)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder)
        folder_row.addWidget(choose)
        self.to_raw = QCheckBox("Convert to raw (verified) after the download")
        self.to_raw.setChecked(settings.force_raw)
        self.errors = {name: _error_label() for name in ("url", "token", "checksum", "folder")}
        form = QFormLayout()
        form.addRow("Image URL:", url_row)
        form.addRow("", self.errors["url"])
        form.addRow("Token:", self.token)
        form.addRow("", self.errors["token"])
        form.addRow("", self.remember)
        form.addRow("Checksum:", self.checksum)
        form.addRow("", self.errors["checksum"])
        form.addRow("", self.unverified)
        form.addRow("Save into:", folder_row)
        form.addRow("", self.errors["folder"])
        form.addRow("", self.to_raw)
        if not settings.verify_tls:
            warning = _error_label()
            warning.setText("TLS verification is off in the settings: the image could be altered on the way.")
            form.addRow("", warning)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        buttons.addButton("Fetch", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.resize(640, 380)

    def token_is_valid(self) -> bool:
        """Whether the token field is empty or holds a token; if not, the reason is shown."""
        token = self.token.text().strip()
        try:
            if token:
                check_token(token)
        except InvalidToken as exc:
            self.errors["token"].setText(str(exc))
            return False
        self.errors["token"].setText("")
        return True

    def http_options(self) -> HttpOptions:
        return HttpOptions(
            token=self.token.text().strip() or None,
            ca_bundle=self.settings.ca_bundle or None,
            insecure=not self.settings.verify_tls,
        )

    @Slot()
    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save fetched images into", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def validate(self) -> FetchRequest | None:
        """The request, or None with the reason shown next to each bad field."""
        for label in self.errors.values():
            label.setText("")
        url = self.url.text().strip()
        ok = True
        if not re.match(r"^https?://[^/]+", url):
            self.errors["url"].setText("Give an http:// or https:// URL.")
            ok = False
        checksum = self.checksum.text().strip() or None
        if checksum:
            try:
                parse_checksum(checksum)
            except DiskscopeError as exc:
                self.errors["checksum"].setText(str(exc))
                ok = False
        elif ok and parse_image_url(url) is None and not self.unverified.isChecked():
            self.errors["checksum"].setText("Give a checksum, or accept an unverified download below.")
            ok = False
        folder = self.folder.text().strip()
        if not os.path.isdir(folder):
            self.errors["folder"].setText("This folder does not exist.")
            ok = False
        elif not os.access(folder, os.W_OK):
            self.errors["folder"].setText("This folder is not writable.")
            ok = False
        if not self.token_is_valid():
            ok = False
        if not ok:
            return None
        return FetchRequest(
            source=url, destination=Path(folder), options=self.http_options(), checksum=checksum,
            to_raw=self.to_raw.isChecked(), allow_unverified=self.unverified.isChecked(),
        )  # fmt: skip

    def accept(self) -> None:
        request = self.validate()
        if request is None:
            return
        self.fetch_request = request
        token = self.token.text().strip()
        if token:
            SESSION_TOKENS[_host(request.source)] = token
            keyring = _keyring()
            if self.remember.isChecked() and keyring is not None:
                keyring.set_password("diskscope", _host(request.source), token)
        super().accept()

    @Slot()
    def browse_glance(self) -> None:
        url = self.url.text().strip()
        parsed = parse_image_url(url)
        endpoint = parsed[0] if parsed else url
        if not re.match(r"^https?://", endpoint):
            self.errors["url"].setText("Type the Glance endpoint (https://host:9292) first.")
            return
        if not self.token_is_valid():
            return
        browser = GlanceBrowser(GlanceClient(endpoint, self.http_options()), self.runner, self)
        if browser.exec() and browser.chosen is not None:
            self.url.setText(browser.client.file_url(browser.chosen).removesuffix("/file"))


class GlanceBrowser(QDialog):
    def __init__(self, client: GlanceClient, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Images at {client.endpoint}")
        self.client = client
        self.chosen: GlanceImage | None = None
        self.model = GlanceImagesModel()
        self.proxy = filter_proxy(self.model, self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter")
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.doubleClicked.connect(self.accept)
        self.status = PlainLabel("Listing…")  # it shows the server's errors
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(860, 420)
        runner.submit(client.images, self._listed, self._failed)

    def _listed(self, images: list[GlanceImage]) -> None:
        self.model.set_images(images)
        self.table.resizeColumnsToContents()
        self.status.setText(f"{len(images)} images")

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet("color: #b91c1c")

    def accept(self) -> None:
        row = self.table.currentIndex().row()
        if row < 0:
            self.status.setText("Pick an image first.")
            return
        self.chosen = self.model.image(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
        super().accept()
