"""10 000 snapshots: parse qemu-img info JSON, load the table model, sort it by VM state size.
Prints milliseconds. Run by the suite."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from diskscope.core.qemu.image_info import parse_info_json
from diskscope.gui.models.snapshots import SnapshotTableModel
from diskscope.gui.models.table import filter_proxy


def main() -> None:
    app = QApplication([])
    data = {
        "filename": "many.qcow2", "format": "qcow2", "virtual-size": 1 << 30,
        "snapshots": [
            {"id": str(i), "name": f"snapshot {i}", "vm-state-size": (i * 7919) % 100_000,
             "date-sec": 1_700_000_000 + i, "date-nsec": 0, "vm-clock-sec": i, "vm-clock-nsec": 0}
            for i in range(1, 10_001)
        ],
    }  # fmt: skip
    started = time.perf_counter()
    info = parse_info_json(data)
    model = SnapshotTableModel()
    model.set_snapshots(info.snapshots)
    owner = QObject()
    proxy = filter_proxy(model, owner)
    proxy.sort(SnapshotTableModel.VM_STATE, Qt.SortOrder.DescendingOrder)
    assert proxy.rowCount() == 10_000
    largest = max(s.vm_state_size for s in info.snapshots)
    assert (
        proxy.index(0, SnapshotTableModel.VM_STATE).data(Qt.ItemDataRole.ToolTipRole) == f"{largest:,} bytes"
    )
    elapsed = (time.perf_counter() - started) * 1000
    del app
    print(f"{elapsed:.1f}")


if __name__ == "__main__":
    main()
