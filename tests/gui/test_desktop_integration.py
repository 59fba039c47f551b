"""Desktop integration with real processes and the real validators (issue 12).

A second `diskscope-gui FILE` hands FILE to the first over the local socket;
`--install-desktop-entry` writes what a desktop reads, checked by
desktop-file-validate, appstreamcli and update-desktop-database's own cache.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from diskscope.gui.desktop_entry import APP_ID, RESOURCES
from diskscope.gui.main_window import MainWindow
from guikit import wait_idle
from imagekit import create

GUI = Path(sys.executable).with_name("diskscope-gui")
HANG = 120  # seconds; only to stop a hang, never a measure of speed
FREEDESKTOP_MIME = Path("/usr/share/mime/packages/freedesktop.org.xml")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "DISPLAY", "WAYLAND"))}
    env.update(
        QT_QPA_PLATFORM="offscreen", XDG_RUNTIME_DIR=str(runtime), XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"), XDG_DATA_HOME=str(tmp_path / "data"), **extra,
    )  # fmt: skip
    return env


def _wait_for(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(HANG * 10):
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting: {what}")


def test_a_second_instance_hands_its_file_to_the_first(tmp_path: Path) -> None:
    env = _env(tmp_path)
    socket_path = tmp_path / "run" / f"diskscope-{os.getuid()}.socket"
    stale = socket.socket(socket.AF_UNIX)  # what a crashed instance leaves behind
    stale.bind(str(socket_path))
    stale.close()
    image = create(tmp_path / "disk.qcow2", "qcow2", "1M")
    first = subprocess.Popen([str(GUI)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: _listening(socket_path), "the first window's socket")
        second = subprocess.run([str(GUI), str(image)], env=env, capture_output=True, text=True, timeout=HANG)
        assert second.returncode == 0, second.stderr
        assert f"opened in the running window: {image}" in second.stdout
        again = subprocess.run([str(GUI)], env=env, capture_output=True, text=True, timeout=HANG)
        assert again.returncode == 0 and again.stdout == "", "no file: it only raises the window"
        assert first.poll() is None, "the first window must keep running"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(HANG)


def _listening(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


def _installed(data: Path) -> dict[str, Path]:
    return {
        "desktop": data / "applications" / f"{APP_ID}.desktop",
        "icon": data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg",
        "metainfo": data / "metainfo" / f"{APP_ID}.metainfo.xml",
    }


def test_install_and_uninstall_the_desktop_entry(tmp_path: Path) -> None:
    env = _env(tmp_path)
    del env["QT_QPA_PLATFORM"]  # no display at all: it must not need one
    data = tmp_path / "data"
    done = subprocess.run(
        [str(GUI), "--install-desktop-entry"], env=env, capture_output=True, text=True, timeout=HANG
    )
    assert done.returncode == 0, done.stderr
    files = _installed(data)
    assert all(p.is_file() for p in files.values())
    valid = subprocess.run(["desktop-file-validate", str(files["desktop"])], capture_output=True, text=True)
    assert valid.returncode == 0 and valid.stdout == "", valid.stdout
    assert f"Exec={GUI} %F" in files["desktop"].read_text().splitlines()
    meta = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(files["metainfo"])], capture_output=True, text=True
    )
    assert meta.returncode == 0, meta.stdout
    cache = (data / "applications" / "mimeinfo.cache").read_text()
    assert f"application/x-qemu-disk={APP_ID}.desktop;" in cache, "update-desktop-database did not run"
    gone = subprocess.run(
        [str(GUI), "--uninstall-desktop-entry"], env=env, capture_output=True, text=True, timeout=HANG
    )
    assert gone.returncode == 0, gone.stderr
    assert not any(p.exists() for p in files.values())
    assert APP_ID not in (data / "applications" / "mimeinfo.cache").read_text()


def test_mime_types_are_canonical_shared_mime_info_names() -> None:
    ns = "{http://www.freedesktop.org/standards/shared-mime-info}"
    root = ET.parse(FREEDESKTOP_MIME).getroot()
    canonical = {t.get("type") for t in root.iter(f"{ns}mime-type")}
    desktop = (RESOURCES / f"{APP_ID}.desktop").read_text()
    line = next(x for x in desktop.splitlines() if x.startswith("MimeType="))
    types = [t for t in line.removeprefix("MimeType=").split(";") if t]
    assert "application/x-vdi-disk" in types and "application/x-qemu-disk" in types
    assert [t for t in types if t not in canonical] == [], "an alias or an unknown type"
    meta = ET.parse(RESOURCES / f"{APP_ID}.metainfo.xml").getroot()
    assert sorted(m.text or "" for m in meta.iter("mediatype")) == sorted(types)
    assert len(list(meta.iter("screenshot"))) >= 2


def test_samples_go_to_the_cache_not_a_new_temporary_folder(
    qtbot, window: MainWindow, private_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    temporary = tmp_path / "tmp"  # a temporary folder of its own: other processes use /tmp too
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    for _ in range(2):
        window.samples_action.trigger()
        wait_idle(qtbot, window)
    keys = [Path(e.key) for e in window.model.entries()]
    assert keys and all(private_cache in k.parents for k in keys)
    assert list(temporary.iterdir()) == []
