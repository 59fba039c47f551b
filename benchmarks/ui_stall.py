"""The window's longest event-loop stall while a conversion and a download run together.
Prints the stall in milliseconds. Run by the suite: python ui_stall.py WORKDIR DATA_BYTES"""

from __future__ import annotations

import hashlib
import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QElapsedTimer, QSettings, QTimer
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.fetch.pipeline import FetchRequest
from diskscope.gui.main_window import MainWindow
from diskscope.gui.settings import Settings

from benchmarks.data import sparse_raw
from benchmarks.fileserver import FileServer


def main() -> None:
    work = Path(tempfile.mkdtemp(dir=sys.argv[1]))
    data = int(sys.argv[2])
    app = QApplication([])
    window = MainWindow(Settings(QSettings(str(work / "s.ini"), QSettings.Format.IniFormat)))
    window.show()
    source = sparse_raw(work / "src.raw", 4 * data, data)
    served = work / "served"
    served.mkdir()
    payload = sparse_raw(served / "dl.raw", data, data, pieces=1)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    gaps: list[int] = []
    clock = QElapsedTimer()
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: gaps.append(clock.restart()))
    out = work / "out"
    out.mkdir()
    with FileServer(served) as server:
        clock.start()
        timer.start()
        convert = window.launcher.start_convert(ConvertRequest(source, work / "o.qcow2", "qcow2"))
        fetch = window.launcher.start_fetch(FetchRequest(server.url("dl.raw"), out, checksum=f"sha256:{digest}",
                                                to_raw=False))  # fmt: skip
        finished = QTimer()
        finished.setInterval(50)
        finished.timeout.connect(lambda: app.quit() if convert.finished and fetch.finished else None)
        finished.start()
        app.exec()
    if not (convert.state.value == fetch.state.value == "succeeded"):
        raise SystemExit(f"jobs failed: {convert.message} / {fetch.message}")
    window.close()
    print(max(gaps[1:]) if len(gaps) > 1 else 0)


if __name__ == "__main__":
    main()
