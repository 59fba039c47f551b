"""Open Sample Images runs qemu-img in a worker: the UI thread keeps turning meanwhile."""

from __future__ import annotations

from pathlib import Path

from diskscope.gui.main_window import MainWindow
from diskscope.gui.samples import samples_folder
from guikit import wait_idle
from PySide6.QtCore import QTimer


def test_a_timer_keeps_ticking_while_the_samples_are_made(
    qtbot, window: MainWindow, private_cache: Path
) -> None:  # type: ignore[no-untyped-def]
    last = samples_folder() / "refused-backing.qcow2"  # the last one made
    assert private_cache in last.parents
    ticks_while_making: list[bool] = []

    def tick() -> None:
        if not last.exists():
            ticks_while_making.append(window.samples_action.isEnabled())

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    timer.start()
    window.samples_action.trigger()  # on the old code this returned only after every qemu-img
    wait_idle(qtbot, window)
    timer.stop()
    assert len(ticks_while_making) >= 3, "the event loop stood still while the samples were made"
    assert not any(ticks_while_making), "Open Sample Images stayed enabled while it ran"
    assert window.samples_action.isEnabled()
    assert len(window.model.entries()) == 6
