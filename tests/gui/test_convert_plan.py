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
    assert named == {"info": 1, "map": 1, "measure": 1, "convert": 1, "compare": 1}
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, tmp_path / "disk.qcow2")
