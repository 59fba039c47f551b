"""The window logs in to a real Keystone (tests/keystonekit.py): the Fetch dialog's Cloud
selector lists clouds.yaml and the openrc variables, asks for a password only when the
cloud has none, and the Glance browser says where it is, greys out images without data,
sorts A to Z and fetches through the login."""

# ruff: noqa: F811 - `cloud` is the session fixture imported from keystonekit, used by name
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from diskscope.gui.dialogs.fetch_dialog import NO_CLOUD, FetchDialog, GlanceBrowser, LoginDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from guikit import WAIT_MS, when_modal
from keystonekit import DEMO_PASSWORD, Cloud, clean_env, cloud  # noqa: F401 - fixtures
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog

pytestmark = pytest.mark.keystone
DATA = b"\x2a" * (3 << 20)


def pick(name: str) -> Callable[[QDialog], bool]:
    def act(browser: QDialog) -> bool:
        assert isinstance(browser, GlanceBrowser)
        if browser.model.rowCount() == 0:
            return False
        browser.filter.setText(name)
        browser.table.selectRow(0)
        browser.accept()
        return True

    return act


@pytest.fixture(scope="module")
def images(cloud: Cloud) -> dict[str, str]:
    return {"active": cloud.upload("gui-cloud-image", DATA), "queued": cloud.upload("gui-queued", None)}


@pytest.mark.parametrize("choice", ["demo", "demo-appcred", "from the environment"])
def test_browse_a_cloud_and_fetch(qtbot, window: MainWindow, cloud: Cloud, images: dict[str, str],
                                  clean_env: pytest.MonkeyPatch, choice: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    for name, value in cloud.env.items():
        clean_env.setenv(name, value)
    if choice == "from the environment":  # an openrc with an application credential
        clean_env.setenv("OS_AUTH_URL", cloud.auth_url)
        clean_env.setenv("OS_APPLICATION_CREDENTIAL_ID", cloud.appcred_id)
        clean_env.setenv("OS_APPLICATION_CREDENTIAL_SECRET", "appcred-secret-Qz42")
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    clouds = [dialog.cloud.itemText(i) for i in range(dialog.cloud.count())]
    assert clouds[0] == NO_CLOUD and {"demo", "demo-appcred", "demo-regiontwo"} <= set(clouds)
    assert ("from the environment" in clouds) == (choice == "from the environment")
    dialog.cloud.setCurrentText(choice)
    chooser = when_modal(GlanceBrowser, pick("gui-cloud-image"))
    dialog.browse_glance()
    qtbot.waitUntil(lambda: not chooser.isActive(), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: dialog.url.text().endswith(images["active"]), timeout=WAIT_MS)
    assert dialog.name.text() == "gui-cloud-image.raw"  # the image's name, before the download
    dialog.folder.setText(str(tmp_path))
    request = dialog.validate()
    assert request is not None and request.options.login is not None and request.options.token is None
    record = window.launcher.start_fetch(request)
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    assert (tmp_path / "gui-cloud-image.raw").read_bytes() == DATA


def test_the_browser_says_where_it_is_and_greys_queued_images(qtbot, window: MainWindow, cloud: Cloud, images: dict[str, str],
                                                              clean_env: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    for name, value in cloud.env.items():
        clean_env.setenv(name, value)
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    dialog.cloud.setCurrentText("demo-regiontwo")
    seen: dict[str, object] = {}

    def inspect(browser: QDialog) -> bool:
        assert isinstance(browser, GlanceBrowser)
        if browser.model.rowCount() < 2:
            return False
        seen["where"] = browser.where.text()
        names = [browser.proxy.index(r, 0).data() for r in range(browser.proxy.rowCount())]
        seen["sorted"] = names == sorted(names)
        row = next(
            r for r in range(browser.model.rowCount()) if browser.model.image(r).id == images["queued"]
        )
        seen["flags"] = browser.model.flags(browser.model.index(row, 0))
        seen["id_shown"] = images["queued"] in [
            browser.model.index(r, 1).data() for r in range(browser.model.rowCount())
        ]
        browser.reject()
        return True

    watcher = when_modal(GlanceBrowser, inspect)
    dialog.browse_glance()
    qtbot.waitUntil(lambda: not watcher.isActive(), timeout=WAIT_MS)
    assert (
        seen["where"]
        == f"Cloud demo-regiontwo · project demo · region RegionTwo · user demo · {cloud.endpoint}"
    )
    assert seen["sorted"] and seen["id_shown"]
    assert seen["flags"] == Qt.ItemFlag.NoItemFlags  # queued: no data, cannot be picked


def test_a_password_is_asked_only_when_the_cloud_has_none(qtbot, window: MainWindow, cloud: Cloud,
                                                          clean_env: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    for name, value in cloud.env.items():
        clean_env.setenv(name, value)
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    asked: list[str] = []

    def answer(login: QDialog) -> bool:
        assert isinstance(login, LoginDialog)
        asked.append(login.windowTitle())
        assert not login.remember.isChecked()  # never stored unless asked
        login.password.setText(DEMO_PASSWORD)
        login.accept()
        return True

    answering = when_modal(LoginDialog, answer)
    dialog.cloud.setCurrentText("demo")  # its password is in secure.yaml: no question
    assert dialog.cloud_settings() is not None
    assert asked == []
    dialog.cloud.setCurrentText("demo-asks")
    settings = dialog.cloud_settings()
    answering.stop()
    assert asked == ["Log in to demo-asks"]
    assert settings is not None and settings.get("password") == DEMO_PASSWORD
    assert DEMO_PASSWORD not in repr(settings)


@pytest.fixture
def file_keyring(tmp_path: Path, clean_env: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """keyring with keyrings.alt's file backend in a private folder, standing in for a desktop's
    Secret Service (which needs a D-Bus session this machine does not have); its priority is
    raised to a system store's, as the dialog offers only those."""
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    class DesktopKeyring(PlaintextKeyring):
        priority = 5  # type: ignore[assignment]

    clean_env.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    previous = keyring.get_keyring()
    keyring.set_keyring(DesktopKeyring())
    yield keyring
    keyring.set_keyring(previous)


def test_a_remembered_password_is_read_back_from_the_keyring(qtbot, window: MainWindow, cloud: Cloud,
                                                             clean_env: pytest.MonkeyPatch, file_keyring) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    for name, value in cloud.env.items():
        clean_env.setenv(name, value)
    asked: list[bool] = []

    def answer(login: QDialog) -> bool:
        assert isinstance(login, LoginDialog) and login.remember.isEnabled()
        asked.append(True)
        login.password.setText(DEMO_PASSWORD)
        login.remember.setChecked(True)
        login.accept()
        return True

    answering = when_modal(LoginDialog, answer)
    for _ in range(2):
        dialog = FetchDialog(window.settings, window.runner, "")
        qtbot.addWidget(dialog)
        dialog.cloud.setCurrentText("demo-asks")
        settings = dialog.cloud_settings()
        assert settings is not None and settings.get("password") == DEMO_PASSWORD
    answering.stop()
    assert asked == [True]  # the second time, the keyring answered
    assert file_keyring.get_password("diskscope-openstack", "demo-asks") == DEMO_PASSWORD


def test_no_keyring_backend_means_no_remember(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        login = LoginDialog("demo-asks", "demo", window)
        qtbot.addWidget(login)
        assert not login.remember.isEnabled()
    finally:
        keyring.set_keyring(previous)


def test_a_dialog_without_a_url_starts_from_the_session_and_the_environment(qtbot, window: MainWindow,
                                                                            clean_env: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]  # fmt: skip
    from diskscope.gui.dialogs import fetch_dialog

    clean_env.setenv("OS_IMAGE_URL", "https://glance.example:9292")
    clean_env.setenv("OS_AUTH_TOKEN", "token-from-the-environment")
    clean_env.setattr(fetch_dialog, "SESSION_TOKENS", {})
    dialog = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(dialog)
    assert dialog.url.text() == "https://glance.example:9292"
    assert dialog.token.text() == "token-from-the-environment"
    clean_env.setattr(fetch_dialog, "SESSION_TOKENS", {"glance.example:9292": "typed-this-session"})
    again = FetchDialog(window.settings, window.runner, "")
    qtbot.addWidget(again)
    assert again.token.text() == "typed-this-session"  # "kept for this session", as it says
