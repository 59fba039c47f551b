"""GUI fixtures: a window with its own settings file, checked for leftovers at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.gui.main_window import MainWindow
from diskscope.gui.settings import Settings
from proc import child_pids
from PySide6.QtCore import QSettings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def window(qtbot, settings: Settings) -> Iterator[MainWindow]:  # type: ignore[no-untyped-def]
    before = child_pids()
    win = MainWindow(settings)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.runner.pending == 0
    assert child_pids() - before == set(), "a qemu-img process was left behind"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The samples go to the cache location: each test gets its own."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache
