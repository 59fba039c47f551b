"""The actions table: each row becomes the window's action, with its text, tip, shortcut
and icon, reachable from a menu, the toolbar or the list; no shortcut is used twice."""

from __future__ import annotations

from collections import Counter

from diskscope.gui.actions import ACTIONS
from diskscope.gui.main_window import MainWindow
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar


def _placed(window: MainWindow) -> set[int]:
    """The ids of the actions in the menus (one level of submenus), toolbar and list."""
    found: list[QAction] = []
    for top in window.menuBar().actions():
        menu = top.menu()
        assert isinstance(menu, QMenu)
        found += menu.actions()
    toolbar = window.findChild(QToolBar, "mainToolbar")
    assert isinstance(toolbar, QToolBar)
    return {id(a) for a in [*found, *toolbar.actions(), *window.list.actions()]}


def test_every_row_is_a_reachable_action(window: MainWindow) -> None:
    reachable = _placed(window)
    for spec in ACTIONS:
        action = getattr(window, spec.attribute)
        assert isinstance(action, QAction) and action.parent() is window
        assert action.text() == spec.text
        assert action.toolTip() == (spec.tip or spec.text.replace("…", "")) == action.statusTip()
        assert action.icon().isNull() is (not spec.icon), spec.attribute
        assert id(action) in reachable, f"{spec.attribute} is in no menu, toolbar or list"
    assert len({spec.attribute for spec in ACTIONS}) == len(ACTIONS)


def test_shortcuts_are_set_and_never_shared(window: MainWindow) -> None:
    for spec in ACTIONS:
        if isinstance(spec.shortcut, str):
            assert getattr(window, spec.attribute).shortcut() == QKeySequence(spec.shortcut)
    keys = [getattr(window, s.attribute).shortcut().toString() for s in ACTIONS]
    assert [k for k, n in Counter(keys).items() if k and n > 1] == []
    assert window.settings_action.shortcut().toString()  # the platform's, else Ctrl+,
    assert window.open_action.shortcut() == QKeySequence(QKeySequence.StandardKey.Open)
