"""Fetch: a URL or Glance image, a cloud to log in to (clouds.yaml, or the OS_* variables of
an openrc) or a token kept for the session, a checksum, a destination, and "convert to raw";
every field is checked before the job starts."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QMimeData, Qt, Signal, Slot
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
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

from ...core.cloud.auth import (
    ENVIRONMENT,
    CloudSettings,
    KeystoneLogin,
    LoginInfo,
    cloud_names,
    settings_for,
)
from ...core.cloud.glance import GlanceClient, GlanceImage, endpoint_from_env, parse_image_url
from ...core.errors import DiskscopeError
from ...core.fetch.checksums import parse_checksum
from ...core.fetch.http import HttpOptions, InvalidToken, check_token
from ...core.fetch.pipeline import FetchRequest, suggested_name
from ..models.glance_images import GlanceImagesModel
from ..models.table import filter_proxy
from ..palette import Tone, tone_color
from ..plain_text import PlainLabel
from ..settings import Settings
from ..workers import TaskRunner

SESSION_TOKENS: dict[str, str] = {}  # endpoint host -> token, for this session only
NO_CLOUD = "None: the URL and a token"
KEYRING_SERVICE = "diskscope-openstack"  # the keyring entry's user name is the cloud's name


def _keyring() -> Any:
    """The system keyring where one is installed with a backend that stores; else None."""
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        # below 1: keyring's fail and null backends and keyrings.alt's files, never a system store
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) < 1:
            return None
        return keyring
    except Exception:  # not installed, or no usable backend
        return None


def _host(url: str) -> str:
    match = re.match(r"^https?://([^/]+)", url.strip())
    return match[1] if match else ""


def _last_token() -> str:
    """The token typed last in this session, else $OS_AUTH_TOKEN."""
    if SESSION_TOKENS:
        return list(SESSION_TOKENS.values())[-1]
    return os.environ.get("OS_AUTH_TOKEN", "")


def remembered_password(cloud: str) -> str | None:
    keyring = _keyring()
    try:
        return keyring.get_password(KEYRING_SERVICE, cloud) if keyring is not None else None
    except Exception:  # a locked or broken keyring: ask instead
        return None


class LoginDialog(QDialog):
    """Asks for the password of a cloud whose clouds.yaml (or openrc) has none."""

    def __init__(self, cloud: str, user: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Log in to {cloud}")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember = QCheckBox("Remember the password in the system keyring")
        self.remember.setEnabled(_keyring() is not None)
        if _keyring() is None:
            self.remember.setToolTip(
                "No system keyring is available; the password is kept for this login only."
            )
        form = QFormLayout()
        form.addRow(PlainLabel(f"The password of {user} on {cloud}:"))
        form.addRow("Password:", self.password)
        form.addRow("", self.remember)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(buttons)


def ask_cloud_settings(choice: str, parent: QWidget, errors: QLabel) -> CloudSettings | None:
    """The chosen cloud's settings, its password asked for (or read from the keyring) only
    if it needs one; None if there is no cloud or the user cancelled."""
    if choice == NO_CLOUD:
        return None
    settings = settings_for(choice)
    if settings.needs_password:
        password = remembered_password(choice)
        if password is None:
            dialog = LoginDialog(choice, settings.get("username") or settings.get("user_id") or "", parent)
            if not dialog.exec() or not dialog.password.text():
                return None
            password = dialog.password.text()
            keyring = _keyring()
            if dialog.remember.isChecked() and keyring is not None:
                try:
                    keyring.set_password(KEYRING_SERVICE, choice, password)
                except Exception:  # locked, or refused: this login still goes ahead
                    errors.setText("The keyring did not store the password.")
        settings = settings.with_password(password)
    return settings


def _dropped_file(data: QMimeData) -> str | None:
    """The one local file a drag carries (from the image list or a file manager), else None."""
    urls = data.urls() if data.hasUrls() else []
    if len(urls) != 1 or not urls[0].isLocalFile():
        return None
    path = urls[0].toLocalFile()
    return path if os.path.isfile(path) else None


def _error_label() -> QLabel:
    label = PlainLabel()  # messages may quote what was typed
    label.setStyleSheet(f"color: {tone_color(Tone.REFUSED, label.palette()).name()}")
    label.setWordWrap(True)
    return label


class FetchDialog(QDialog):
    upload_requested = Signal(str, object)  # a file dropped on the Glance browser, its GlanceClient

    def __init__(self, settings: Settings, runner: TaskRunner, url: str = "",
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Fetch an image")
        self.settings, self.runner = settings, runner
        self.fetch_request: FetchRequest | None = None
        self.login: KeystoneLogin | None = None  # set once the chosen cloud logged in
        self.cloud = QComboBox()
        self.cloud.addItems([NO_CLOUD, *cloud_names()])
        self.cloud.setToolTip("Log in as openstackclient does: a cloud of clouds.yaml, or the OS_* "
                              "variables of an openrc file sourced before starting Diskscope")  # fmt: skip
        self.cloud.currentTextChanged.connect(self._cloud_changed)
        self.url = QLineEdit(url or endpoint_from_env() or "")
        self.url.setAccessibleName("Image URL")  # its row is a layout: no buddy label
        self.url.setPlaceholderText("https://host/image.qcow2  or  https://glance:9292/v2/images/ID")
        browse_glance = QPushButton("Browse…")
        browse_glance.setToolTip("List the images of a Glance endpoint and pick one")
        browse_glance.clicked.connect(self.browse_glance)
        url_row = QHBoxLayout()
        url_row.addWidget(self.url)
        url_row.addWidget(browse_glance)
        self.token = QLineEdit(SESSION_TOKENS.get(_host(url), "") if url else _last_token())
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("X-Auth-Token (Glance); kept for this session only")
        self.checksum = QLineEdit()
        self.checksum.setPlaceholderText(
            "sha256:HEX; empty: the SHA256SUMS beside the image, or Glance's own"
        )
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
        self.name = QLineEdit()
        self.name.setAccessibleName("File name")
        self.name.setToolTip("Filled from the image's name; a name you type is used as it is")
        self.name.textEdited.connect(self._name_typed)
        self._suggested = ""  # the name last filled in; kept in step until the user types one
        self._chosen: GlanceImage | None = None  # picked in the browser: its name and format
        self.url.textChanged.connect(self._suggest_name)
        self.to_raw.toggled.connect(self._suggest_name)
        self._suggest_name()
        self.errors = {
            name: _error_label() for name in ("cloud", "url", "token", "checksum", "folder", "name")
        }
        form = QFormLayout()
        form.addRow("Cloud:", self.cloud)
        form.addRow("", self.errors["cloud"])
        form.addRow("Image URL:", url_row)
        form.addRow("", self.errors["url"])
        form.addRow("Token:", self.token)
        form.addRow("", self.errors["token"])
        form.addRow("Checksum:", self.checksum)
        form.addRow("", self.errors["checksum"])
        form.addRow("", self.unverified)
        form.addRow("Save into:", folder_row)
        form.addRow("", self.errors["folder"])
        form.addRow("", self.to_raw)
        form.addRow("File name:", self.name)
        form.addRow("", self.errors["name"])
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

    @Slot()
    def _suggest_name(self) -> None:
        """Fill the file name from the URL or the picked Glance image, unless the user typed one."""
        if self.name.text() != self._suggested:
            return
        url, to_raw, image = self.url.text().strip(), self.to_raw.isChecked(), self._chosen
        if image is not None and url.rstrip("/").endswith(image.id):
            suggestion = suggested_name(image.name or image.id, to_raw, image.disk_format)
        else:
            suggestion = suggested_name(url, to_raw) if re.match(r"^https?://[^/]+/.", url) else ""
        self._suggested = suggestion
        self.name.setText(suggestion)

    @Slot(str)
    def _name_typed(self, text: str) -> None:
        if not text.strip():  # cleared: back to the suggestion
            self._suggested = ""
            self._suggest_name()

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
        if self.login is not None:
            return HttpOptions(
                ca_bundle=self.settings.ca_bundle or self.login.settings.get("cacert"),
                insecure=not self.settings.verify_tls, login=self.login,
            )  # fmt: skip
        return HttpOptions(
            token=self.token.text().strip() or None,
            ca_bundle=self.settings.ca_bundle or None,
            insecure=not self.settings.verify_tls,
        )

    @Slot(str)
    def _cloud_changed(self, choice: str) -> None:
        self.login = None
        self.token.setEnabled(choice == NO_CLOUD)
        self.errors["cloud"].setText("")

    def cloud_settings(self) -> CloudSettings | None:
        """The chosen cloud's settings, its password asked for (or read from the keyring)
        only if it needs one; None if there is no cloud or the user cancelled."""
        return ask_cloud_settings(self.cloud.currentText(), self, self.errors["cloud"])

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
        if self.cloud.currentText() != NO_CLOUD and self.login is None:
            self.errors["cloud"].setText("Browse the cloud's images first (that logs in).")
            ok = False
        if not re.match(r"^https?://[^/]+", url):
            self.errors["url"].setText("Give an http:// or https:// URL.")
            ok = False
        checksum = self.checksum.text().strip() or None
        # No checksum for a plain URL: the list published beside it (SHA256SUMS, NAME.sha256, ...)
        # says it, signature checked with Settings' keyring, as `fetch --checksums auto` does.
        published = False
        if checksum:
            try:
                parse_checksum(checksum)
            except DiskscopeError as exc:
                self.errors["checksum"].setText(str(exc))
                ok = False
        elif parse_image_url(url) is None and not self.unverified.isChecked():
            published = True
        folder = self.folder.text().strip()
        if not os.path.isdir(folder):
            self.errors["folder"].setText("This folder does not exist.")
            ok = False
        elif not os.access(folder, os.W_OK):
            self.errors["folder"].setText("This folder is not writable.")
            ok = False
        name = self.name.text().strip()
        if name != self._suggested and (os.sep in name or name in (".", "..")):
            self.errors["name"].setText("Give a file name, not a path; the folder is chosen above.")
            ok = False
        if not self.token_is_valid():
            ok = False
        if not ok:
            return None
        # The suggestion is the fetch's own naming: given the folder, a kept format gets its
        # extension once the headers are read. A name the user typed is used as it is.
        destination = Path(folder) if name in ("", self._suggested) else Path(folder) / name
        return FetchRequest(
            source=url, destination=destination, options=self.http_options(), checksum=checksum,
            to_raw=self.to_raw.isChecked(), allow_unverified=self.unverified.isChecked(),
            checksums_auto=published, keyring=self.settings.keyring_path(),
        )  # fmt: skip

    def accept(self) -> None:
        request = self.validate()
        if request is None:
            return
        self.fetch_request = request
        token = self.token.text().strip()
        if token and self.login is None:
            SESSION_TOKENS[_host(request.source)] = token
        super().accept()

    @Slot()
    def browse_glance(self) -> None:
        if self.cloud.currentText() != NO_CLOUD:
            self._browse_cloud()
            return
        url = self.url.text().strip()
        parsed = parse_image_url(url)
        endpoint = parsed[0] if parsed else url
        if not re.match(r"^https?://", endpoint):
            self.errors["url"].setText(
                "Type the Glance endpoint (https://host:9292) first, or choose a cloud."
            )
            return
        if not self.token_is_valid():
            return
        self._open_browser(GlanceClient(endpoint, self.http_options()), None)

    def _browse_cloud(self) -> None:
        """Log in (in a worker: Keystone may be slow), then list the cloud's images."""
        try:
            settings = self.cloud_settings()
        except DiskscopeError as exc:
            self.errors["cloud"].setText(str(exc))
            return
        if settings is None:
            return
        ca_bundle, insecure = self.settings.ca_bundle or None, not self.settings.verify_tls
        self.errors["cloud"].setText("Logging in…")

        def log_in() -> tuple[KeystoneLogin, LoginInfo]:
            login = KeystoneLogin(settings, ca_bundle, insecure)
            endpoint = login.image_endpoint()
            return login, login.info(endpoint)

        self.runner.submit(log_in, self._logged_in, self.errors["cloud"].setText)

    def _logged_in(self, result: tuple[KeystoneLogin, LoginInfo]) -> None:
        self.login, info = result
        self.errors["cloud"].setText("")
        self._open_browser(GlanceClient(info.endpoint, self.http_options()), info)

    def _open_browser(self, client: GlanceClient, info: LoginInfo | None) -> None:
        browser = GlanceBrowser(client, self.runner, self, info)
        browser.upload_requested.connect(self.upload_requested)
        if browser.exec() and browser.chosen is not None:
            self._chosen = browser.chosen
            self.url.setText(browser.client.file_url(browser.chosen).removesuffix("/file"))
            self._suggest_name()


class GlanceBrowser(QDialog):
    """A Glance endpoint's images; a local image file dropped on it asks to be uploaded there."""

    upload_requested = Signal(str, object)  # the dropped file's path, this browser's GlanceClient

    def __init__(self, client: GlanceClient, runner: TaskRunner, parent: QWidget | None = None,
                 info: LoginInfo | None = None, select: str | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.select_id = select  # an image id to select once listed (a finished upload's)
        self.setAcceptDrops(True)
        self.setWindowTitle(f"Images at {client.endpoint}")
        self.client, self.runner = client, runner
        self.chosen: GlanceImage | None = None
        self.model = GlanceImagesModel()
        self.proxy = filter_proxy(self.model, self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter")
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)
        if info is not None:
            where = (f"Cloud {info.cloud or ENVIRONMENT} · project {info.project or '-'} · region "
                     f"{info.region or 'any'} · user {info.user or '-'} · {client.endpoint}")  # fmt: skip
        else:
            where = f"Endpoint {client.endpoint}"
        self.where = PlainLabel(where)  # names from clouds.yaml and Keystone
        self.refresh = QPushButton("Refresh")
        self.refresh.clicked.connect(self.list_images)
        top = QHBoxLayout()
        top.addWidget(self.where, 1)
        top.addWidget(self.refresh)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(GlanceImagesModel.NAME, Qt.SortOrder.AscendingOrder)  # A to Z
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
        layout.addLayout(top)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        layout.addWidget(self.status)
        layout.addWidget(buttons)
        self.resize(960, 460)
        self.list_images()

    @Slot()
    def list_images(self) -> None:
        """List in a worker thread: the window stays responsive, whatever the server does."""
        self.refresh.setEnabled(False)
        self.status.setStyleSheet("")
        self.status.setText("Listing…")
        self.runner.submit(self.client.images, self._listed, self._failed)

    def _listed(self, images: list[GlanceImage]) -> None:
        self.model.set_images(images)
        self.table.resizeColumnsToContents()
        waiting = sum(1 for i in images if i.status != "active")
        self.status.setText(
            f"{len(images)} images" + (f"; {waiting} without data (greyed)" if waiting else "")
        )
        self.refresh.setEnabled(True)
        for row in range(self.proxy.rowCount()):
            if self.model.image(self.proxy.mapToSource(self.proxy.index(row, 0)).row()).id == self.select_id:
                self.table.selectRow(row)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        path = _dropped_file(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.upload_requested.emit(path, self.client)

    def _failed(self, message: str) -> None:
        self.status.setText(message)
        self.status.setStyleSheet(f"color: {tone_color(Tone.REFUSED, self.palette()).name()}")
        self.refresh.setEnabled(True)

    def accept(self) -> None:
        row = self.table.currentIndex().row()
        if row < 0:
            self.status.setText("Pick an image first.")
            return
        image = self.model.image(self.proxy.mapToSource(self.proxy.index(row, 0)).row())
        if image.status != "active":
            self.status.setText(f"{image.id} is {image.status}: it has no data to fetch yet.")
            return
        self.chosen = image
        super().accept()
