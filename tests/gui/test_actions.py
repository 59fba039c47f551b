"""Every action, reached the way a user reaches it: menus, toolbar buttons, the list's
context menu and keyboard shortcuts, with and without an image selected.

Any exception that reaches Qt's event loop fails the test (pytest-qt captures it),
and so does a message box nobody asked for. Dialogs that an action opens are
recorded and closed (Escape) as a user would close them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from diskscope.gui.dialogs.fetch_dialog import FetchDialog
from diskscope.gui.main_window import MainWindow
from guikit import wait_idle
from imagekit import create
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QMessageBox, QToolBar, QWidget

# Not triggered here: Quit closes the window (tested below); "Show in File Manager"
# starts the desktop's file manager, a process outside this test.
SKIPPED = {"&Quit", "Show in &File Manager"}


_ALARMS = (QMessageBox.Icon.Warning, QMessageBox.Icon.Critical)


@dataclass
class DialogCloser:
    """Closes each modal dialog as it appears, and remembers what it was."""

    seen: list[type[QWidget]] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)  # the text of warning and error boxes
    timer: QTimer = field(default_factory=QTimer)

    def start(self) -> None:
        self.timer.setInterval(20)
        self.timer.timeout.connect(self._close_modal)
        self.timer.start()

    def _close_modal(self) -> None:
        modal = QApplication.activeModalWidget()
        if modal is None:
            return
        self.seen.append(type(modal))
        if isinstance(modal, QMessageBox) and modal.icon() in _ALARMS:
            self.alarms.append(modal.text())
        if isinstance(modal, QDialog):
            modal.reject()
        else:
            modal.close()

    def opened(self, kind: type[QWidget]) -> bool:
        return any(issubclass(seen, kind) for seen in self.seen)


@pytest.fixture
def closer() -> Iterator[DialogCloser]:
    closing = DialogCloser()
    closing.start()
    yield closing
    closing.timer.stop()


def _menu_actions(menu: QMenu) -> Iterator[QAction]:
    for action in menu.actions():
        sub = action.menu()
        if isinstance(sub, QMenu):
            sub.aboutToShow.emit()  # as when the user opens it (Open Recent fills itself)
            yield from _menu_actions(sub)
        elif not action.isSeparator():
            yield action


def _toolbar(win: MainWindow) -> QToolBar:
    toolbar = win.findChild(QToolBar, "mainToolbar")
    assert isinstance(toolbar, QToolBar)
    return toolbar


def every_action(win: MainWindow) -> list[QAction]:
    found: dict[int, QAction] = {}
    for top in win.menuBar().actions():
        menu = top.menu()
        assert isinstance(menu, QMenu)
        for action in _menu_actions(menu):
            found[id(action)] = action
    for action in [*win.list.actions(), *_toolbar(win).actions()]:
        found[id(action)] = action
    return [a for a in found.values() if a.text() not in SKIPPED]


def _trigger_all(qtbot, win: MainWindow, closer: DialogCloser) -> list[str]:  # type: ignore[no-untyped-def]
    triggered = []
    for action in every_action(win):
        if not action.isEnabled():
            continue
        action.trigger()
        wait_idle(qtbot, win)
        triggered.append(action.text())
    assert closer.alarms == []
    return triggered


def test_every_action_without_an_image(qtbot, window: MainWindow, closer: DialogCloser) -> None:  # type: ignore[no-untyped-def]
    triggered = _trigger_all(qtbot, window, closer)
    assert "&Fetch…" in triggered
    assert closer.opened(FetchDialog), "Fetch opened no dialog"


def test_every_action_with_an_image_selected(
    qtbot, window: MainWindow, closer: DialogCloser, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([str(create(tmp_path / "disk.qcow2", "qcow2", "16M"))])
    wait_idle(qtbot, window)
    assert window.current_entry() is not None
    triggered = _trigger_all(qtbot, window, closer)
    assert {"Con&vert…", "Check &Integrity", "&Refresh"} <= set(triggered)


def test_toolbar_buttons_clicked(qtbot, window: MainWindow, closer: DialogCloser) -> None:  # type: ignore[no-untyped-def]
    toolbar = _toolbar(window)
    clicked = []
    for action in toolbar.actions():
        button = toolbar.widgetForAction(action)
        if button is None or not action.isEnabled():
            continue
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        wait_idle(qtbot, window)
        clicked.append(action.text())
    assert "&Fetch…" in clicked
    assert closer.opened(FetchDialog)
    assert closer.alarms == []


def test_fetch_shortcut_opens_the_dialog(qtbot, window: MainWindow, closer: DialogCloser) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    QTest.keyClick(
        window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    qtbot.waitUntil(lambda: closer.opened(FetchDialog))
    assert closer.alarms == []


def test_quit_closes_the_window(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())


@pytest.mark.parametrize("kind", ["owned overlay", "foreign backing", "not a disk", "checksummed"])
def test_every_action_with_each_verdict_selected(
    qtbot, window: MainWindow, closer: DialogCloser, tmp_path: Path, kind: str
) -> None:  # type: ignore[no-untyped-def]
    """Each banner of issue 12 (amber own chain, red foreign backing, grey no-disk, a
    SHA256SUMS check) with every action on it: no exception, no alarm."""
    import hashlib

    from diskscope.gui.dialogs.convert_dialog import ConvertDialog
    from imagekit import qemu_img

    create(tmp_path / "base.qcow2", "qcow2", "4M")
    target = tmp_path / "top.qcow2"
    if kind == "owned overlay":
        qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", target)
    elif kind == "foreign backing":
        qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", target, "1M")
    elif kind == "not a disk":
        target = tmp_path / "README.txt"
        target.write_text("Read me.\nThen open the images.\n")
    else:
        target = tmp_path / "base.qcow2"
        digest = hashlib.sha256(target.read_bytes()).hexdigest()
        (tmp_path / "SHA256SUMS").write_text(f"{digest}  base.qcow2\n")
    window.open_paths([str(target)])
    wait_idle(qtbot, window)
    triggered = _trigger_all(qtbot, window, closer)
    assert "Con&vert…" in triggered and closer.opened(ConvertDialog)
