"""The modal watchdog in tests/gui/conftest.py, played for real: a pytest run in a second
process, with that conftest, over tests that open a message box nobody clicks, one that is
closed at once, one that the test works (key presses) for longer than the patience, and
one left open when its test ends."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

GUI_TESTS = Path(__file__).resolve().parent
PATIENCE = 3  # seconds, for the run below; the real runs wait 60

INNER = """
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox


def test_unexpected_box():
    QMessageBox.warning(None, "Diskscope", "The image vanished while nobody was looking.")


def test_box_closed_at_once():
    QTimer.singleShot(0, lambda: QApplication.activeModalWidget().reject())
    QMessageBox.information(None, "Diskscope", "Closed by the test.")


def test_box_worked_longer_than_the_patience():
    presses = []

    def press():
        box = QApplication.activeModalWidget()
        if box is None:
            return
        if len(presses) == 60:  # 6 s of work, twice the patience
            box.reject()
            return
        QTest.keyClick(box, Qt.Key.Key_Tab)
        presses.append(1)

    timer = QTimer(interval=100)
    timer.timeout.connect(press)
    timer.start()
    QMessageBox.question(None, "Diskscope", "Worked by the test.")
    timer.stop()
    assert len(presses) == 60


KEPT = []  # what keeps the box below alive after its test (in the window: its parent)


def test_box_left_open():
    box = QMessageBox(QMessageBox.Icon.Question, "Diskscope", "Shown, and never closed.")
    box.setWindowModality(Qt.WindowModality.ApplicationModal)
    box.show()
    KEPT.append(box)
"""


def test_a_modal_nobody_works_fails_its_test_with_its_text(tmp_path: Path) -> None:
    shutil.copy(GUI_TESTS / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {
        **os.environ,
        "PYTHONPATH": str(GUI_TESTS.parent),
        "QT_QPA_PLATFORM": "offscreen",
        "DISKSCOPE_MODAL_PATIENCE": str(PATIENCE),
    }
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), "-rA"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,  # only to stop a hang, should the watchdog not work
    )  # fmt: skip
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "FAILED test_inner.py::test_unexpected_box" in out, out
    assert "PASSED test_inner.py::test_box_closed_at_once" in out, out
    assert "PASSED test_inner.py::test_box_worked_longer_than_the_patience" in out, out
    assert f"a modal dialog stayed open {PATIENCE} s with nobody working it" in out
    assert "Diskscope | The image vanished while nobody was looking." in out
    assert "ERROR test_inner.py::test_box_left_open" in out, out
    assert "a modal dialog was left open at the end of the test: Diskscope | Shown, and never closed." in out
    assert "1 failed, 3 passed, 1 error" in out, out
