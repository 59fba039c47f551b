"""The Convert dialog's plan is the one the job runs: inspect, map and measure run once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from diskscope.core.policy import InspectionPolicy
from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from guikit import WAIT_MS, wait_idle
from imagekit import MiB, RecordingQemuImg, qemu_img, raw_file
from PySide6.QtCore import QPoint, Qt


def test_the_dialogs_plan_is_run_not_made_again(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = raw_file(tmp_path / "disk.raw", 16 * MiB)
    window.open_paths([str(source)])
    wait_idle(qtbot, window)
    spy = window.session.qemu = RecordingQemuImg()  # from here on, every qemu-img call is seen
    policy = InspectionPolicy(max_virtual_size=1 << 40)
    report = window.current_entry().details.report  # type: ignore[union-attr]
    dialog = ConvertDialog(report, spy, window.runner, parent=window, policy=policy)
    qtbot.addWidget(dialog)
    dialog.target.setCurrentIndex(dialog.target.findText("qcow2"))
    qtbot.waitUntil(lambda: dialog.convert_button.isEnabled(), timeout=WAIT_MS)
    assert dialog.plan is not None and dialog.plan.request.policy == policy
    record = window.launcher.start_convert(dialog.plan)
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    named = Counter(call[0] for call in spy.calls if any(str(source) in arg for arg in call[1:]))
    assert named == {"info": 1, "map": 1, "measure": 1, "convert": 1}  # no compare by default
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, tmp_path / "disk.qcow2")


def test_the_dialog_says_what_it_verifies_and_the_job_does_it(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Unchecked (the default): structure and samples, no qemu-img compare; checked: compare too.
    The checkbox is clicked, and the finished job's details list what was checked."""
    source = raw_file(tmp_path / "disk.raw", 16 * MiB)  # 4 MiB of data: 64 samples of 64 KiB
    window.open_paths([str(source)])
    wait_idle(qtbot, window)
    report = window.current_entry().details.report  # type: ignore[union-attr]
    dialog = ConvertDialog(report, window.session.qemu, window.runner, parent=window)
    qtbot.addWidget(dialog)
    dialog.target.setCurrentIndex(dialog.target.findText("raw"))
    assert not dialog.verify.isChecked(), "raw targets no longer force the full comparison"
    assert (
        "64 blocks of 64 KiB" in dialog.verified.text() and "qemu-img compare" not in dialog.verified.text()
    )
    qtbot.mouseClick(dialog.verify, Qt.MouseButton.LeftButton, pos=QPoint(2, dialog.verify.height() // 2))
    assert dialog.verify.isChecked() and "qemu-img compare reads both images" in dialog.verified.text()
    qtbot.waitUntil(lambda: dialog.convert_button.isEnabled(), timeout=WAIT_MS)
    assert dialog.plan is not None
    record = window.launcher.start_convert(dialog.plan)
    qtbot.waitUntil(lambda: record.finished, timeout=WAIT_MS)
    assert record.state == JobState.SUCCEEDED, record.message
    window.jobs_panel.select(record.id)
    details = window.jobs_panel.details.toPlainText()
    assert "Check: sampled data: 64 blocks" in details
    assert "Check: qemu-img compare: identical to the source" in details
