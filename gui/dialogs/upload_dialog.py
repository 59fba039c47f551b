"""Upload to Glance: where to (a cloud, or an endpoint and a token, or the Glance browser
the image was dropped on), the image's name and visibility, its disk format as the
inspection found it (not editable), the properties the image suggests with their reasons,
and the import method. The file is inspected here first: an unsafe image cannot be sent."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.cloud.auth import KeystoneLogin, cloud_names
from ...core.cloud.glance import GlanceClient, endpoint_from_env
from ...core.cloud.properties import Suggestion, suggest
from ...core.cloud.upload import GLANCE_DISK_FORMATS, UploadMethod, UploadRequest, resume_warning
from ...core.errors import DiskscopeError
from ...core.fetch.http import HttpOptions, check_token
from ...core.qemu.qemu_img import QemuImg
from ...core.safety import ImageReport, inspect_image
from ..plain_text import PlainLabel
from ..settings import Settings
from ..workers import TaskRunner
from .fetch_dialog import NO_CLOUD, ask_cloud_settings

VISIBILITIES = ("private", "shared", "community", "public")
METHODS = (UploadMethod.AUTO, UploadMethod.GLANCE_DIRECT, UploadMethod.PUT)


class UploadDialog(QDialog):
    def __init__(self, path: Path, qemu: QemuImg, runner: TaskRunner, settings: Settings,
                 client: GlanceClient | None = None, parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle(f"Upload {path.name} to Glance")
        self.path, self.settings, self.client = path, settings, client
        self.report: ImageReport | None = None
        self.request: UploadRequest | None = None
        self.connect_glance: Callable[[], GlanceClient] | None = None
        form = QFormLayout()
        self.cloud = QComboBox()
        self.endpoint = QLineEdit(endpoint_from_env() or "")
        self.token = QLineEdit()
        if client is None:
            self.cloud.addItems([NO_CLOUD, *cloud_names()])
            self.cloud.currentTextChanged.connect(self._cloud_changed)
            self.endpoint.setPlaceholderText("https://glance:9292 (a cloud's catalog gives it)")
            self.token.setEchoMode(QLineEdit.EchoMode.Password)
            self.token.setPlaceholderText("X-Auth-Token")
            form.addRow("Cloud:", self.cloud)
            form.addRow("Endpoint:", self.endpoint)
            form.addRow("Token:", self.token)
        else:
            form.addRow("Glance:", PlainLabel(client.endpoint))
        self.name = QLineEdit(path.name)
        self.visibility = QComboBox()
        self.visibility.addItems(VISIBILITIES)
        self.disk_format = PlainLabel("inspecting…")
        self.disk_format.setToolTip("What the inspection found in the file; Glance is told exactly this")
        self.suggestions = QListWidget()
        self.suggestions.setMaximumHeight(110)
        self.suggestions.setAccessibleName("Suggested properties")
        self.properties = QLineEdit()
        self.properties.setPlaceholderText("key=value, key=value (e.g. os_distro=ubuntu24.04)")
        self.method = QComboBox()
        self.method.addItems([m.value for m in METHODS])
        self.method.setToolTip("auto: glance-direct (stage, then import) where Glance offers it, else put")
        self.keep = QCheckBox("Keep the image record if the upload fails or is cancelled")
        self.error = PlainLabel("")  # the inspection's refusal, or a field's problem
        self.error.setWordWrap(True)
        form.addRow("Name:", self.name)
        form.addRow("Visibility:", self.visibility)
        form.addRow("Disk format:", self.disk_format)
        form.addRow("Suggested:", self.suggestions)
        form.addRow("Properties:", self.properties)
        form.addRow("Import method:", self.method)
        form.addRow("", self.keep)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.upload_button: QPushButton = buttons.addButton("Upload", QDialogButtonBox.ButtonRole.AcceptRole)
        self.upload_button.setEnabled(False)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self.resize(620, 420)
        policy = settings.policy()
        runner.submit(lambda: inspect_image(path, qemu, policy=policy), self._inspected, self._failed)

    def _inspected(self, report: ImageReport) -> None:
        self.report = report
        disk_format = GLANCE_DISK_FORMATS.get(report.format)
        if not report.safe:
            self._failed(f"Refused: {report.violations[0].message}")
            return
        if disk_format is None:
            self._failed(f"Glance has no disk format for a {report.format.value} image; convert it first.")
            return
        self.disk_format.setText(disk_format)
        for found in suggest(report.resolved or report.path, report.format):
            self._add_suggestion(found)
        warning = resume_warning(report.inspection.file_size or 0)
        self.error.setText(warning or "")
        self.upload_button.setEnabled(True)

    def _add_suggestion(self, found: Suggestion) -> None:
        item = QListWidgetItem(f"{found.key}={found.value}  ({found.reason})")
        item.setData(Qt.ItemDataRole.UserRole, (found.key, found.value))
        item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
        item.setCheckState(Qt.CheckState.Checked)
        self.suggestions.addItem(item)

    def _failed(self, message: str) -> None:
        self.disk_format.setText("-")
        self.error.setText(message)
        self.upload_button.setEnabled(False)

    @Slot(str)
    def _cloud_changed(self, choice: str) -> None:
        self.token.setEnabled(choice == NO_CLOUD)

    def chosen_properties(self) -> dict[str, str]:
        chosen: dict[str, str] = {}
        for row in range(self.suggestions.count()):
            item = self.suggestions.item(row)
            if item.checkState() == Qt.CheckState.Checked:
                key, value = item.data(Qt.ItemDataRole.UserRole)
                chosen[key] = value
        for pair in filter(None, (p.strip() for p in self.properties.text().split(","))):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                raise DiskscopeError(f"Write each property as key=value, not {pair!r}.")
            chosen[key.strip()] = value.strip()
        return chosen

    def accept(self) -> None:
        try:
            properties = self.chosen_properties()
            connect = self._connection()
        except DiskscopeError as exc:
            self.error.setText(str(exc))
            return
        if connect is None:
            return
        self.connect_glance = connect
        self.request = UploadRequest(
            self.path, name=self.name.text().strip() or None, visibility=self.visibility.currentText(),
            properties=properties, method=UploadMethod(self.method.currentText()),
            keep_on_failure=self.keep.isChecked(), policy=self.settings.policy(),
        )  # fmt: skip
        super().accept()

    def _connection(self) -> Callable[[], GlanceClient] | None:
        """How the job reaches Glance; the login itself happens in the job's thread."""
        client = self.client
        if client is not None:
            return lambda: client
        ca_bundle, insecure = self.settings.ca_bundle or None, not self.settings.verify_tls
        endpoint = self.endpoint.text().strip()
        settings = ask_cloud_settings(self.cloud.currentText(), self, self.error)
        if settings is not None:

            def log_in() -> GlanceClient:
                login = KeystoneLogin(settings, ca_bundle, insecure)
                options = HttpOptions(ca_bundle=ca_bundle or login.settings.get("cacert"), insecure=insecure,
                                      login=login)  # fmt: skip
                return GlanceClient(endpoint or login.image_endpoint(), options)

            return log_in
        if self.cloud.currentText() != NO_CLOUD:
            return None  # the password dialog was cancelled
        if not endpoint.startswith(("http://", "https://")):
            raise DiskscopeError("Give the Glance endpoint (https://host:9292), or choose a cloud.")
        token = check_token(self.token.text().strip(), "The token") if self.token.text().strip() else None
        options = HttpOptions(token=token, ca_bundle=ca_bundle, insecure=insecure)
        return lambda: GlanceClient(endpoint, options)
