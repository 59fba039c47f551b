"""Entry point of the window: application names, logging, the exception hook."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING

from ..core.version import ShowVersion

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

logger = logging.getLogger(__name__)
DESKTOP_FILE_NAME = "org.diskscope.Diskscope"
TABS = ("overview", "snapshots", "chain", "allocation", "integrity", "raw")


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM") or sys.platform != "linux":
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def build_parser() -> argparse.ArgumentParser:
    """The window's command line; `diskscope` reads it too, to tell the window's arguments apart."""
    parser = argparse.ArgumentParser(prog="diskscope-gui", description="The Diskscope window.")
    parser.add_argument("paths", nargs="*", metavar="IMAGE", help="images or folders to open")
    parser.add_argument(
        "--screenshot", metavar="PNG",
        help="render the window with the images (or the samples) to a PNG, then exit",
    )  # fmt: skip
    parser.add_argument("--select", metavar="NAME", help="with --screenshot: the image to show")
    parser.add_argument("--tab", choices=TABS, default="overview", help="with --screenshot")
    parser.add_argument(
        "--theme", choices=("system", "light", "dark"), default="system",
        help="light or dark: the Fusion style with a light or dark palette instead of the desktop's",
    )  # fmt: skip
    parser.add_argument("--version", action=ShowVersion)
    entry = parser.add_mutually_exclusive_group()
    entry.add_argument(
        "--install-desktop-entry", action="store_true",
        help="add Diskscope to this user's application menu and 'Open with' (XDG_DATA_HOME), then exit",
    )  # fmt: skip
    entry.add_argument(
        "--uninstall-desktop-entry", action="store_true", help="remove what --install-desktop-entry added"
    )
    parser.add_argument(
        "--new-instance", action="store_true",
        help="open a window of its own instead of handing the images to the running one",
    )  # fmt: skip
    return parser


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


def _configure_logging() -> None:
    from ..core.text import SafeFormatter
    from .logbuffer import LOG_BUFFER

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(LOG_BUFFER)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(SafeFormatter())  # no secret, no raw control character on a terminal
    root.addHandler(console)


def _install_excepthook() -> None:
    shown = False

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        nonlocal shown
        logger.error("unexpected error:\n%s", "".join(traceback.format_exception(kind, exc, tb)))
        if shown:
            return
        shown = True
        from PySide6.QtWidgets import QApplication

        from ..core.text import scrub
        from .plain_text import warn

        if QApplication.instance() is not None:
            warn(None, scrub(f"Diskscope hit an unexpected error ({exc}). The details are in View > Log."))

    sys.excepthook = hook


def _apply_theme(app: QApplication, theme: str) -> None:
    if theme == "system":
        return
    from .palette import fusion_dark_palette

    app.setStyle("Fusion")
    style = app.style()
    app.setPalette(fusion_dark_palette() if theme == "dark" else style.standardPalette())


def _install_translations(app: QApplication) -> None:
    """Qt's own strings (dialog buttons) in the user's language; ours are English, through tr()."""
    from PySide6.QtCore import QLibraryInfo, QLocale, QTranslator

    translator = QTranslator(app)
    folder = QLibraryInfo.path(QLibraryInfo.LibraryPath.TranslationsPath)
    if translator.load(QLocale(), "qtbase", "_", folder):
        app.installTranslator(translator)


def _handed_over(paths: list[str]) -> bool:
    """True if a running window took `paths` (and raised itself)."""
    from .single_instance import hand_over

    taken = hand_over(paths)
    if taken is None:
        return False
    if taken:
        print(f"diskscope: opened in the running window: {', '.join(taken)}")
    return True


def _serve_later_instances(window: MainWindow) -> None:
    from PySide6.QtCore import Qt

    from .single_instance import InstanceServer

    def raise_window() -> None:
        window.setWindowState(window.windowState() & ~Qt.WindowState.WindowMinimized)
        window.show()
        window.raise_()
        window.activateWindow()

    server = InstanceServer(window.open_paths, raise_window)
    server.setParent(window)
    if not server.listen():
        logger.warning("another Diskscope window is listening; this one opens files for itself")


def _import_core_first() -> None:
    """Import all of core (no Qt in it) before PySide6. PySide6 replaces `__import__` and
    reads the source of every module first imported after it, looking for its `__feature__`
    switches; imported before it, core and the libraries core uses (requests among them,
    some 200 modules) are never read: about a third of the start-up's CPU time."""
    import importlib
    import pkgutil

    from .. import core

    for module in pkgutil.walk_packages(core.__path__, core.__name__ + "."):
        importlib.import_module(module.name)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.install_desktop_entry or args.uninstall_desktop_entry:
        from .desktop_entry import run

        return run(remove=args.uninstall_desktop_entry)
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif not _has_display():
        print(
            "diskscope: there is no display here; `diskscope-gui --screenshot window.png` "
            "renders the window to a file instead.",
            file=sys.stderr,
        )
        return 2

    _import_core_first()
    from PySide6.QtCore import QTimer
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from .. import __version__
    from .main_window import ICON, MainWindow
    from .settings import Settings

    _configure_logging()
    app = QApplication.instance() or QApplication([sys.argv[0]])
    assert isinstance(app, QApplication)
    app.setApplicationName("Diskscope")
    app.setOrganizationName("Diskscope")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(DESKTOP_FILE_NAME)
    app.setWindowIcon(QIcon(str(ICON)))
    _install_excepthook()
    _apply_theme(app, args.theme)
    _install_translations(app)

    single = not (args.screenshot or args.new_instance)
    if single and _handed_over(args.paths):
        return 0
    window = MainWindow(Settings())
    if single:
        _serve_later_instances(window)
    window.show()
    if args.screenshot:
        from .screenshot import take_screenshot

        take_screenshot(window, args.paths, args.screenshot, args.select, args.tab)
    elif args.paths:  # once the window has painted itself: opening shows the details
        QTimer.singleShot(0, partial(window.open_paths, args.paths))
    return app.exec()
