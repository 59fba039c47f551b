"""Every QAction of the main window, declared once in a table: its text, shortcut, tip,
icon and the slot it triggers (the window's, or one of its parts': `launcher.fetch_dialog`).
The window lays them out in menus and toolbars."""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter

from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import QMainWindow

from .icons import themed_icon

K = QKeySequence.StandardKey


@dataclass(frozen=True)
class ActionSpec:
    attribute: str  # the window's attribute that holds the action
    text: str
    slot: str  # the window's method it triggers, or a dotted path to a part's
    shortcut: QKeySequence.StandardKey | str | None = None
    tip: str = ""  # the tooltip and status tip; the text without "…" when empty
    icon: str = ""  # a name for themed_icon; no icon when empty
    fallback: str = ""  # the shortcut where the platform has no standard key for it


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open_action", "&Open…", "open_dialog", K.Open, "Open disk images", "open"),
    ActionSpec("open_folder_action", "Open &Folder…", "open_folder_dialog", "Ctrl+Shift+O",
               "Open every image in a folder", "folder"),
    ActionSpec("samples_action", "Open &Sample Images", "open_samples"),
    ActionSpec("paste_action", "&Paste qemu-img info…", "paste_dialog", "Ctrl+Shift+V",
               "Parse qemu-img info output copied from another host"),
    ActionSpec("export_action", "&Export…", "exporter.export_dialog", "Ctrl+E",
               "Save this inspection as JSON or Markdown", "export"),
    ActionSpec("close_action", "&Close Image", "close_current", K.Close),
    ActionSpec("quit_action", "&Quit", "close", K.Quit),
    ActionSpec("copy_action", "&Copy", "copy", K.Copy, "Copy what is selected"),
    ActionSpec("find_action", "&Find in Snapshots", "find_snapshots", K.Find, "Filter the snapshot table"),
    ActionSpec("settings_action", "&Settings…", "settings_dialog", K.Preferences, fallback="Ctrl+,"),
    ActionSpec("refresh_action", "&Refresh", "refresh_current", K.Refresh, "Inspect the image again",
               "refresh"),
    ActionSpec("check_action", "Check &Integrity", "run_check", "Ctrl+I", "Run qemu-img check", "check"),
    ActionSpec("convert_action", "Con&vert…", "launcher.convert_dialog", "Ctrl+Shift+C",
               "Convert the selected image to another format", "convert"),
    ActionSpec("fetch_action", "&Fetch…", "launcher.fetch_dialog", "Ctrl+Shift+F",
               "Download an image from a URL or Glance, verified", "fetch"),
    ActionSpec("upload_action", "&Upload to Glance…", "launcher.upload_dialog", "Ctrl+Shift+U",
               "Publish the selected image to a Glance image service, verified"),
    ActionSpec("log_action", "&Log", "show_log", "Ctrl+L"),
    ActionSpec("about_action", "&About Diskscope", "show_about"),
    ActionSpec("open_folder_in_files", "Show in &File Manager", "show_in_files"),
)  # fmt: skip


def build_actions(window: QMainWindow) -> dict[str, QAction]:
    """One QAction per row of ACTIONS, parented to `window`, connected to its slot and
    stored as its attribute; returned by attribute name."""
    actions: dict[str, QAction] = {}
    for spec in ACTIONS:
        action = QAction(spec.text, window)
        if spec.shortcut is not None:
            action.setShortcut(spec.shortcut if isinstance(spec.shortcut, K) else QKeySequence(spec.shortcut))
        if spec.fallback and not action.shortcut().toString():
            action.setShortcut(QKeySequence(spec.fallback))
        action.setToolTip(spec.tip or spec.text.replace("…", ""))
        action.setStatusTip(action.toolTip())
        action.triggered.connect(attrgetter(spec.slot)(window))
        setattr(window, spec.attribute, action)
        actions[spec.attribute] = action
    return actions


def apply_icons(actions: dict[str, QAction], palette: QPalette) -> None:
    """The actions' icons in the palette's colours (a dark theme gets light icons)."""
    for spec in ACTIONS:
        if spec.icon:
            actions[spec.attribute].setIcon(themed_icon(spec.icon, palette))
