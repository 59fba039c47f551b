"""An OVA dropped on the window: the appliance's hardware and each disk's verdict on the
Overview, and the Convert dialog (reached from the Image menu's action) offering its disks."""

from __future__ import annotations

from pathlib import Path

from diskscope.gui.dialogs.convert_dialog import ConvertDialog
from diskscope.gui.jobs import JobState
from diskscope.gui.main_window import MainWindow
from diskscope.gui.models.appliance_disks import ApplianceDiskModel
from guikit import WAIT_MS, wait_idle
from imagekit import qemu_img
from ovakit import make_ova, ova_with_a_qcow2_behind_vmdk
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication


def drop(window: MainWindow, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(window.rect().center()), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)  # fmt: skip
    window.dropEvent(event)


def test_a_dropped_ova_shows_its_hardware_and_each_disks_verdict(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ova = make_ova(tmp_path, disks=2)
    drop(window, ova)
    wait_idle(qtbot, window)
    entry = window.model.entry(0)
    assert (entry.name, entry.format_text, entry.verdict) == ("vm.ova", "ova", "safe")
    overview = window.overview
    assert overview.banner.verdict == "safe" and overview.appliance.isVisible()
    assert not overview.facts.isVisible()
    text = overview.appliance.hardware.text()
    for words in ("System: web01", "CPUs: 2", "2.0 GiB", "Firmware: EFI", "SCSI (lsilogic)",
                  "VmxNet3 on VM Network", "3 files match the manifest vm.mf"):  # fmt: skip
        assert words in text, words
    model = overview.appliance.model
    rows = [[model.index(r, c).data() for c in range(model.columnCount())] for r in range(model.rowCount())]
    assert rows == [
        ["1", "disk1.vmdk", "SCSI (lsilogic)", "vmdk (streamOptimized)", "64.0 MiB", "safe"],
        ["2", "disk2.vmdk", "SCSI (lsilogic)", "vmdk (streamOptimized)", "32.0 MiB", "safe"],
    ]


def test_the_disk_table_passes_the_model_tester(
    qtbot, qtmodeltester, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([str(make_ova(tmp_path, disks=2))])
    wait_idle(qtbot, window)
    model = window.overview.appliance.model
    assert isinstance(model, ApplianceDiskModel) and model.rowCount() == 2
    qtmodeltester.check(model)


def test_a_refused_disk_is_named_in_the_banner_and_its_row(qtbot, window: MainWindow, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.open_paths([str(ova_with_a_qcow2_behind_vmdk(tmp_path, safe_first=True))])
    wait_idle(qtbot, window)
    assert window.model.entry(0).verdict == "refused"
    banner = window.overview.banner
    assert banner.verdict == "refused" and "Disk 2: The image claims to be vmdk" in banner.text()
    model = window.overview.appliance.model
    assert model.index(0, ApplianceDiskModel.VERDICT).data() == "safe"
    assert (
        model.index(1, ApplianceDiskModel.VERDICT).data().startswith("refused: The image claims to be vmdk")
    )


def test_convert_offers_the_disks_and_converts_the_chosen_one_in_place(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ova = make_ova(tmp_path, disks=2)
    window.open_paths([str(ova)])
    wait_idle(qtbot, window)
    seen: dict[str, object] = {}

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ConvertDialog):
            QTimer.singleShot(20, act)
            return
        seen["disks"] = [dialog.disk_choice.itemText(i) for i in range(dialog.disk_choice.count())]
        dialog.disk_choice.setCurrentIndex(1)
        dialog.target.setCurrentIndex(dialog.target.findText("qcow2"))
        seen["name"] = dialog.destination.text()

        def ready() -> None:
            if not dialog.convert_button.isEnabled():
                QTimer.singleShot(20, ready)
                return
            seen["command"] = dialog.command.text()
            qtbot.mouseClick(dialog.convert_button, Qt.MouseButton.LeftButton)

        ready()

    QTimer.singleShot(0, act)
    window.convert_action.trigger()
    assert seen["disks"] == ["Disk 1: disk1.vmdk (safe)", "Disk 2: disk2.vmdk (safe)"]
    assert seen["name"] == str(tmp_path / "disk2.qcow2")
    assert '"offset":' in str(seen["command"]) and str(ova) in str(seen["command"])
    qtbot.waitUntil(lambda: bool(window.jobs.records) and not window.jobs.active, timeout=WAIT_MS)
    (record,) = window.jobs.records.values()
    assert record.state == JobState.SUCCEEDED, record.message
    qemu_img(
        "compare",
        "-f",
        "raw",
        "-F",
        "qcow2",
        tmp_path / "src" / "disk2.vmdk.src.raw",
        tmp_path / "disk2.qcow2",
    )
    assert not (tmp_path / "disk1.qcow2").exists()


def test_an_appliances_map_and_check_tabs_say_where_its_disks_are(
    qtbot, window: MainWindow, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """At a real display an OVA's Allocation tab said "No allocation map for pasted text." and
    its Integrity tab "There is no file to check.": both now point at Convert."""
    drop(window, make_ova(tmp_path))
    wait_idle(qtbot, window)
    window.tabs.setCurrentWidget(window.allocation)
    assert window.allocation.note.text() == (
        "An appliance has no allocation map of its own: Image > Convert writes its disks out, "
        "and each one opened shows its map."
    )
    window.tabs.setCurrentWidget(window.integrity)
    assert not window.integrity.button.isEnabled()
    assert window.integrity.result.text() == (
        "qemu-img check reads one image: Image > Convert writes the appliance's disks out, "
        "and each one opened can be checked."
    )
