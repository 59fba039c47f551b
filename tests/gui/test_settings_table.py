"""The settings table: every declared option survives a real QSettings file, and a
damaged value reads as its default, is removed from the file and is told once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from diskscope.gui.settings import Option, Settings
from PySide6.QtCore import QSettings

# A value other than the default for every option, by attribute name.
CHANGED: dict[str, Any] = {
    "qemu_img_path": "/opt/qemu/bin/qemu-img",
    "cpu_limit": 7,
    "memory_limit_mib": 333,
    "parallel_inspections": 5,
    "vmdk_allowed_types": frozenset({"streamOptimized"}),
    "max_virtual_size": 48 << 20,
    "destination_folder": "/srv/images",
    "concurrent_jobs": 4,
    "force_raw": False,
    "ca_bundle": "/etc/ssl/private-ca.pem",
    "verify_tls": False,
    "compare_after_convert": True,
    "keyring": "/usr/share/keyrings/ubuntu-cloudimage-keyring.gpg",
}


def _open(path: Path) -> Settings:
    return Settings(QSettings(str(path), QSettings.Format.IniFormat))


def test_every_option_round_trips_through_a_settings_file(tmp_path: Path) -> None:
    options = Settings.options()
    assert {o.name for o in options} == set(CHANGED), "an option without a value in CHANGED"
    writer = _open(tmp_path / "settings.ini")
    for option in options:
        assert CHANGED[option.name] != option.default
        setattr(writer, option.name, CHANGED[option.name])
    writer.sync()
    del writer

    reader = _open(tmp_path / "settings.ini")
    assert {o.name: getattr(reader, o.name) for o in options} == CHANGED
    text = (tmp_path / "settings.ini").read_text()
    assert all(o.key.split("/")[1] in text for o in options)


def test_a_fresh_file_gives_every_default(tmp_path: Path) -> None:
    settings = _open(tmp_path / "settings.ini")
    for option in Settings.options():
        assert getattr(settings, option.name) == option.default, option.name


def test_no_limit_and_no_vmdk_survive_too(tmp_path: Path) -> None:
    writer = _open(tmp_path / "settings.ini")
    writer.max_virtual_size = 32 << 20
    writer.max_virtual_size = None
    writer.vmdk_allowed_types = frozenset()
    writer.sync()
    reader = _open(tmp_path / "settings.ini")
    assert reader.max_virtual_size is None
    assert reader.vmdk_allowed_types == frozenset()


def test_a_damaged_vmdk_list_reads_as_the_default(tmp_path: Path) -> None:
    (tmp_path / "settings.ini").write_text("[inspect]\nvmdk_allowed_types=floppy\n")
    settings = _open(tmp_path / "settings.ini")
    assert settings.vmdk_allowed_types == Settings.vmdk_allowed_types.default
    assert "“VMDK types accepted”" in settings.take_reset_notice()


@pytest.mark.parametrize(
    "option", [o for o in Settings.options() if o.stored in (int, bool)], ids=lambda o: o.key
)
@pytest.mark.parametrize("damage", ["abc", "", "1.5", "1, 2"])
def test_a_damaged_number_or_switch_reads_as_its_default_and_is_reset(
    tmp_path: Path, option: Option[Any], damage: str
) -> None:
    group, name = option.key.split("/")
    (tmp_path / "settings.ini").write_text(f"[{group}]\n{name}={damage}\n")
    settings = _open(tmp_path / "settings.ini")
    assert getattr(settings, option.name) == option.default
    assert settings.take_reset_notice() == (
        f"The saved setting “{option.label}” was damaged and is back to its default."
    )
    assert settings.take_reset_notice() == ""
    settings.sync()
    assert name not in (tmp_path / "settings.ini").read_text()


@pytest.mark.parametrize(
    ("key", "text", "value"),
    [("qemu/cpu_seconds", "0", None), ("jobs/concurrent", "99", None), ("jobs/concurrent", " 3 ", 3),
     ("fetch/verify_tls", "false", False), ("fetch/verify_tls", "0", False), ("convert/compare", "TRUE", True)],
)  # fmt: skip
def test_numbers_outside_their_bounds_are_damaged_too(
    tmp_path: Path, key: str, text: str, value: object
) -> None:
    group, name = key.split("/")
    (tmp_path / "settings.ini").write_text(f"[{group}]\n{name}={text}\n")
    settings = _open(tmp_path / "settings.ini")
    option = next(o for o in Settings.options() if o.key == key)
    assert getattr(settings, option.name) == (option.default if value is None else value)
    assert bool(settings.take_reset_notice()) is (value is None)
