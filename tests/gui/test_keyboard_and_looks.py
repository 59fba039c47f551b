"""Keyboard, accessibility and looks of the real window (issue 12).

Keys go through QTest.keyClick to a shown, active window; colours are measured
on the real Fusion palettes, light and dark; icons are rendered pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.core.samples import create_samples
from diskscope.gui.dialogs.fetch_dialog import FetchDialog
from diskscope.gui.icons import ICON_NAMES, themed_icon
from diskscope.gui.main_window import MainWindow
from diskscope.gui.palette import AA, Tone, banner_colors, contrast, fusion_dark_palette, tone_color
from diskscope.gui.widgets.chain_view import STATUS
from guikit import accessible_name, wait_idle
from imagekit import create, write_pattern
from PySide6.QtCore import QMimeData, QPoint, Qt, QTimer, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QImage, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog, QMenu, QStyleFactory, QWidget

MiB = 1024 * 1024


def _light() -> QPalette:
    style = QStyleFactory.create("Fusion")
    assert style is not None
    return style.standardPalette()


PALETTES = {"light": _light, "dark": fusion_dark_palette}


@pytest.fixture
def themed(request: pytest.FixtureRequest) -> Iterator[QPalette]:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    old_style, old_palette = app.style().name(), app.palette()
    app.setStyle("Fusion")
    palette = PALETTES[request.param]()
    app.setPalette(palette)
    yield palette
    app.setPalette(old_palette)
    app.setStyle(old_style)


def _activate(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def _open(qtbot, window: MainWindow, *paths: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([str(p) for p in paths])
    wait_idle(qtbot, window)


def focus_chain(qtbot, window: MainWindow) -> list[QWidget]:  # type: ignore[no-untyped-def]
    """Each widget that Tab visits, from the image list round to it again."""
    window.list.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.list)
    stops: list[QWidget] = []
    for _ in range(60):
        window.focusNextChild()
        focus = QApplication.focusWidget()
        assert focus is not None
        if focus is window.list:
            return stops
        stops.append(focus)
    raise AssertionError(f"Tab never came back to the list: {[type(w).__name__ for w in stops]}")


# -- keyboard -------------------------------------------------------------------------------------


@pytest.mark.parametrize("tab", ["overview", "snapshots", "allocation", "chain"])
def test_tab_visits_the_tab_contents_and_every_stop_has_a_name(
    qtbot, window: MainWindow, tmp_path: Path, tab: str
) -> None:  # type: ignore[no-untyped-def]
    image = create(tmp_path / "disk.qcow2", "qcow2", "16M")
    write_pattern(image, "qcow2", 0, MiB)
    _open(qtbot, window, image)
    window.jobs_dock.show()
    _activate(qtbot, window)
    page = {"overview": window.overview, "snapshots": window.snapshots,
            "allocation": window.allocation, "chain": window.chain}[tab]  # fmt: skip
    window.tabs.setCurrentWidget(page)
    stops = focus_chain(qtbot, window)
    unnamed = [f"{type(w).__name__} {w.objectName()}" for w in stops if not accessible_name(w)]
    assert unnamed == []
    assert window.tabs.tabBar() in stops
    assert any(page.isAncestorOf(w) for w in stops), f"Tab never reaches the {tab} tab's contents"
    assert any(window.jobs_panel.isAncestorOf(w) for w in stops), "Tab never reaches the jobs panel"
    assert not window.isAncestorOf(window.list) or accessible_name(window.list) == "Images"


def test_ctrl_tab_and_ctrl_page_keys_switch_tabs_not_the_image(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    _open(qtbot, window, create(tmp_path / "a.qcow2", "qcow2", "1M"), create(tmp_path / "b.raw", "raw", "1M"))
    _activate(qtbot, window)
    window._select_row(0)
    window.list.setFocus()
    ctrl, shift = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier
    for key, modifiers, expected in (
        (Qt.Key.Key_PageDown, ctrl, 1), (Qt.Key.Key_Tab, ctrl, 2), (Qt.Key.Key_PageUp, ctrl, 1),
        (Qt.Key.Key_Tab, ctrl | shift, 0), (Qt.Key.Key_PageUp, ctrl, 5),
    ):  # fmt: skip
        QTest.keyClick(QApplication.focusWidget(), key, modifiers)
        assert window.tabs.currentIndex() == expected, (key, modifiers)
    assert window.list.currentIndex().row() == 0, "a tab shortcut moved the list selection"


def test_shift_f10_opens_the_lists_context_menu(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _open(qtbot, window, create(tmp_path / "a.qcow2", "qcow2", "1M"))
    _activate(qtbot, window)
    window.list.setFocus()
    shown: list[str] = []

    def close_menu() -> None:
        popup = QApplication.activePopupWidget()
        if isinstance(popup, QMenu):
            shown.extend(a.text() for a in popup.actions())
            popup.close()
        else:
            QTimer.singleShot(20, close_menu)

    QTimer.singleShot(20, close_menu)
    QTest.keyClick(window.list, Qt.Key.Key_F10, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: bool(shown))
    assert "&Refresh" in shown and "Con&vert…" in shown


def test_allocation_ranges_are_reachable_by_keyboard(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    image = create(tmp_path / "disk.qcow2", "qcow2", "16M")
    write_pattern(image, "qcow2", 4 * MiB, MiB)
    _open(qtbot, window, image)
    _activate(qtbot, window)
    window.tabs.setCurrentWidget(window.allocation)
    strip = window.allocation.strip
    strip.setFocus()
    qtbot.waitUntil(strip.hasFocus)
    table = window.allocation.table
    contents = [table.topLevelItem(i).text(3) for i in range(table.topLevelItemCount())]  # type: ignore[union-attr]
    assert "data from this image" in contents
    data_row = contents.index("data from this image")
    QTest.keyClick(strip, Qt.Key.Key_Home)
    for _ in range(data_row):
        QTest.keyClick(strip, Qt.Key.Key_Right)
    assert table.indexOfTopLevelItem(table.currentItem()) == data_row
    assert strip.accessibleDescription() == "4.0 MiB to 5.0 MiB: data from this image (1.0 MiB)"
    assert "data:" in window.allocation.summary()


# -- looks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("themed", ["light", "dark"], indirect=True)
def test_banner_and_state_colours_pass_aa(
    qtbot, window: MainWindow, themed: QPalette, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    base = themed.color(QPalette.ColorRole.Base)
    for tone in Tone:
        text, background = banner_colors(tone)
        assert contrast(text, background) >= AA, tone
        assert contrast(tone_color(tone, themed), base) >= AA, tone
    samples = create_samples(window.session.qemu, tmp_path / "samples")  # type: ignore[arg-type]
    _open(qtbot, window, *samples)
    for row, entry in enumerate(window.model.entries()):
        window._select_row(row)
        banner = window.overview.banner
        tone = {
            "safe": Tone.SAFE,
            "refused": Tone.REFUSED,
            "owned_chain": Tone.WARNING,
            "not_a_disk": Tone.NEUTRAL,
        }[banner.verdict]
        assert banner_colors(tone)[1].name() in banner.styleSheet(), entry.name


def _ink(image: QImage) -> QColor:
    """The colour of the most opaque pixel: what the icon is drawn in."""
    best = QColor(0, 0, 0, 0)
    for y in range(image.height()):
        for x in range(image.width()):
            pixel = image.pixelColor(x, y)
            if pixel.alpha() > best.alpha():
                best = pixel
    assert best.alpha() == 255, "the icon draws nothing opaque"
    return best


@pytest.mark.parametrize("themed", ["light", "dark"], indirect=True)
def test_toolbar_icons_follow_the_palette(window: MainWindow, themed: QPalette) -> None:
    background = themed.color(QPalette.ColorRole.Window)
    for name in ICON_NAMES:
        assert contrast(_ink(themed_icon(name, themed).pixmap(24).toImage()), background) >= AA, name
    for action in (window.convert_action, window.fetch_action, window.open_action):
        ink = _ink(action.icon().pixmap(24).toImage())
        assert contrast(ink, background) >= AA, action.text()


def test_empty_state_offers_every_way_in(qtbot, window: MainWindow, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert window.stack.currentWidget() is window.empty
    assert not window.list.isVisible(), "an empty list with headers beside the empty state"
    buttons = window.empty.buttons
    assert set(buttons) == {"Open", "Open Folder", "Fetch", "Open Sample Images"}
    assert all(b.isVisible() and b.isEnabled() for b in buttons.values())
    seen: list[type] = []

    def close_dialog() -> None:
        modal = QApplication.activeModalWidget()
        if isinstance(modal, QDialog):
            seen.append(type(modal))
            modal.reject()
        else:
            QTimer.singleShot(20, close_dialog)

    QTimer.singleShot(20, close_dialog)
    qtbot.mouseClick(buttons["Fetch"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(seen))
    assert issubclass(seen[0], FetchDialog)


def test_drop_overlay_covers_the_empty_state_with_a_dashed_border(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(tmp_path / "disk.qcow2"))])
    enter = QDragEnterEvent(QPoint(50, 50), Qt.DropAction.CopyAction, data,
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(window, enter)
    overlay = window.drop_hint
    assert overlay.isVisible() and overlay.geometry() == window.splitter.geometry()
    image = overlay.grab().toImage()
    highlight = overlay.palette().color(QPalette.ColorRole.Highlight)
    x = 5  # inside the inset border line, on the left edge
    border = sum(image.pixelColor(x, y).name() == highlight.name() for y in range(image.height()))
    assert border > image.height() // 4, "the dashed border is not drawn"
    assert border < image.height() - 10, "the border is not dashed"
    window.dragLeaveEvent(None)  # type: ignore[arg-type]
    assert not overlay.isVisible()


# -- layout ---------------------------------------------------------------------------------------


def test_small_window_with_jobs_dock_keeps_the_overview_usable(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    samples = create_samples(window.session.qemu, tmp_path / "samples")  # type: ignore[arg-type]
    _open(qtbot, window, *samples)
    window.jobs_dock.show()
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.width() == 1024 and window.height() == 640)
    QApplication.processEvents()
    assert window.overview.width() >= 360 and window.overview.height() >= 220
    assert window.list.width() >= 180
    assert window.jobs_dock.height() >= 120, "the jobs dock is squeezed instead"
    names = [e.name for e in window.model.entries()]
    window._select_row(names.index("refused-backing.qcow2"))
    window.tabs.setCurrentWidget(window.chain)
    QApplication.processEvents()
    tree = window.chain.tree
    assert tree.horizontalScrollBar().maximum() == 0
    status_left = tree.header().sectionViewportPosition(STATUS)
    assert status_left >= 0 and status_left + 120 <= tree.viewport().width(), "Status column is cut off"
    assert "leads outside the folder, to /etc/passwd" in window.chain.reasons.text()
    assert window.chain.reasons.isVisible()


def test_raw_tab_of_a_refused_image_offers_no_shell_commands(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    samples = create_samples(window.session.qemu, tmp_path / "samples")  # type: ignore[arg-type]
    _open(qtbot, window, *samples)
    names = [e.name for e in window.model.entries()]
    window._select_row(names.index("refused-backing.qcow2"))
    assert window.raw.commands.toPlainText() == "" and window.raw.commands.isHidden()
    window._select_row(names.index("snapshots.qcow2"))
    assert "qemu-img info" in window.raw.commands.toPlainText()


def test_a_long_status_message_stops_before_the_qemu_img_version(qtbot, window: MainWindow) -> None:  # type: ignore[no-untyped-def]
    window.resize(1024, 640)
    qtbot.waitUntil(lambda: window.width() == 1024)
    QApplication.processEvents()
    long = "The download stopped: " + "a very long reason " * 30
    window.statusBar().showMessage(long)
    shown = window.statusBar().currentMessage()
    assert shown.endswith("…") and shown != long
    width = window.statusBar().fontMetrics().horizontalAdvance(shown)
    assert width < window.qemu_label.x(), "the message runs under the qemu-img version"
    assert window.statusBar().toolTip() == long


def test_the_overview_facts_keep_their_height_when_the_jobs_dock_opens(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """At a real display (1280x800) the Jobs dock, opened by the first job, squeezed the
    Overview's facts until their rows overlapped and were cut in half; now the tab scrolls."""
    window.resize(1280, 800)
    window.open_paths([str(create(tmp_path / "disk.qcow2", "qcow2", "64M"))])
    wait_idle(qtbot, window)
    window.jobs_dock.toggleViewAction().trigger()  # View > Jobs, as a job's start does
    window.resizeDocks([window.jobs_dock], [400], Qt.Orientation.Vertical)
    QApplication.processEvents()
    assert window.jobs_dock.isVisible()
    for name in ("Format", "Virtual size", "Path"):
        label = window.overview.values[name]
        assert label.height() >= label.fontMetrics().height(), name
