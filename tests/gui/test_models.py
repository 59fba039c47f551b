"""Models and the allocation aggregation, with data made up in the test."""

from __future__ import annotations

from diskscope.core.qemu.image_info import Snapshot
from diskscope.core.qemu.results import MapExtent
from diskscope.gui.models.image_list import ImageEntry, ImageListModel
from diskscope.gui.models.snapshots import SnapshotTableModel
from diskscope.gui.models.table import filter_proxy
from diskscope.gui.widgets.allocation_map import aggregate
from diskscope.gui.widgets.snapshots_panel import SnapshotsPanel
from PySide6.QtCore import QObject, Qt

SNAPSHOTS = (
    Snapshot("1", "small", 512, 1_700_000_300),
    Snapshot("2", "huge", 3 << 30, 1_700_000_100),
    Snapshot("10", "medium", 40 << 20, 1_700_000_200),
)


def test_snapshot_model_passes_the_model_tester(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = SnapshotTableModel()
    model.set_snapshots(SNAPSHOTS)
    qtmodeltester.check(model)


def test_image_list_model_passes_the_model_tester(qapp, qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = ImageListModel()
    model.upsert(ImageEntry("/a", "a"))
    model.upsert(ImageEntry("/b", "b"))
    qtmodeltester.check(model)


def _sorted_names(column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> list[str]:
    """Sorted as the snapshots panel sorts: by the model itself, behind the filter proxy."""
    model = SnapshotTableModel()
    model.set_snapshots(SNAPSHOTS)
    owner = QObject()
    proxy = filter_proxy(model, owner)
    proxy.sort(column, order)
    return [proxy.index(r, 1).data() for r in range(proxy.rowCount())]


def test_sizes_dates_and_ids_sort_as_numbers() -> None:
    assert _sorted_names(SnapshotTableModel.VM_STATE) == ["small", "medium", "huge"]
    assert _sorted_names(SnapshotTableModel.DATE) == ["huge", "medium", "small"]
    assert _sorted_names(SnapshotTableModel.ID) == ["small", "huge", "medium"]
    assert _sorted_names(SnapshotTableModel.VM_STATE, Qt.SortOrder.DescendingOrder) == [
        "huge", "medium", "small",
    ]  # fmt: skip


def test_sorting_keeps_the_model_valid(qtmodeltester) -> None:  # type: ignore[no-untyped-def]
    model = SnapshotTableModel()
    model.set_snapshots(SNAPSHOTS)
    qtmodeltester.check(model)
    model.sort(SnapshotTableModel.VM_STATE, Qt.SortOrder.DescendingOrder)
    assert [model.snapshot(r).name for r in range(3)] == ["huge", "medium", "small"]


def test_sizes_are_shown_humanized_with_exact_tooltips() -> None:
    model = SnapshotTableModel()
    model.set_snapshots(SNAPSHOTS)
    index = model.index(1, SnapshotTableModel.VM_STATE)
    assert index.data() == "3.0 GiB"
    assert index.data(Qt.ItemDataRole.ToolTipRole) == "3,221,225,472 bytes"


def test_ten_thousand_snapshots_load_and_sort(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Sorted the way a click on the header sorts (the panel's view, its proxy, the model's own
    sort), read back as the rows the table shows: every row in order, with a filter on."""
    rows = tuple(Snapshot(str(i), f"snap {i}", i * 7 % 1000, 1_700_000_000 + i) for i in range(10_000))
    panel = SnapshotsPanel()
    qtbot.addWidget(panel)
    panel.set_snapshots(rows)
    panel.table.sortByColumn(SnapshotTableModel.VM_STATE, Qt.SortOrder.DescendingOrder)
    view = panel.table.model()
    assert view.rowCount() == 10_000
    shown = [rows[int(view.index(r, SnapshotTableModel.ID).data())].vm_state_size for r in range(10_000)]
    assert shown == sorted((s.vm_state_size for s in rows), reverse=True)
    panel.filter.setText("snap 99")  # 99, 990-999, 9900-9999
    names = {view.index(r, 1).data() for r in range(view.rowCount())}
    assert len(names) == 111 and all(n.startswith("snap 99") for n in names)
    sizes = [rows[int(view.index(r, SnapshotTableModel.ID).data())].vm_state_size for r in range(111)]
    assert sizes == sorted(sizes, reverse=True)


def test_aggregate_puts_each_byte_in_its_bucket() -> None:
    size = 1 << 40  # a 1 TiB disk with a million small extents aggregates to 800 buckets
    extents = tuple(MapExtent(i * (1 << 20), 1 << 20, 0, True, False, i % 2 == 0) for i in range(1_000_000))
    buckets = aggregate(extents, size, 800)
    assert len(buckets) == 800
    total = sum(sum(b.data.values()) + b.zero + b.unallocated for b in buckets)
    assert total == sum(e.length for e in extents)
    assert sum(sum(b.data.values()) for b in buckets) == 500_000 * (1 << 20)
    assert buckets[-1].data == {} and buckets[-1].unallocated == 0


def test_aggregate_layers_and_kinds() -> None:
    mib = 1 << 20
    extents = (
        MapExtent(0, mib, 0, True, False, True),
        MapExtent(mib, mib, 1, True, False, True),
        MapExtent(2 * mib, mib, 0, True, True, False),
        MapExtent(3 * mib, mib, 1, False, True, False),
    )
    buckets = aggregate(extents, 4 * mib, 4)
    assert [b.data for b in buckets] == [{0: mib}, {1: mib}, {}, {}]
    assert [b.zero for b in buckets] == [0, 0, mib, 0]
    assert [b.unallocated for b in buckets] == [0, 0, 0, mib]
