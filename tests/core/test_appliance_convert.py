"""`diskscope convert` of an OVA or OVF: every disk (or --disk N), read in place from the tar,
converted by the real qemu-img, verified and placed as any conversion is."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.appliance.appliance import inspect_appliance
from diskscope.core.appliance.convert import ApplianceConvertJob, plan_appliance
from diskscope.core.cli import ExitCode
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.errors import Cancelled, SourceChanged
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import qemu_img
from ovakit import appliance_folder, make_ova, ova_with_a_qcow2_behind_vmdk


def same_guest_data(a: Path, a_fmt: str, b: Path, b_fmt: str) -> bool:
    try:
        qemu_img("compare", "-f", a_fmt, "-F", b_fmt, a, b)
    except AssertionError:
        return False
    return True


def test_every_disk_is_converted_into_the_folder_named_from_the_ovf(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    out = tmp_path / "out"
    out.mkdir()
    ran = run("convert", "--json", ova, out, "-O", "qcow2")
    assert ran.returncode == ExitCode.OK, ran.stderr
    results = json.loads(ran.stdout)
    assert [r["output"] for r in results] == [str(out / "disk1.qcow2"), str(out / "disk2.qcow2")]
    assert sorted(p.name for p in out.iterdir()) == ["disk1.qcow2", "disk2.qcow2"]  # no private folder left
    for i, result in enumerate(results, 1):
        assert same_guest_data(
            tmp_path / "src" / f"disk{i}.vmdk.src.raw", "raw", out / f"disk{i}.qcow2", "qcow2"
        )
        # read in place: qemu-img was given the OVA and the member's offset, never a copy
        assert '"offset": ' in result["command"] and str(ova) in result["command"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src", "vm.ova"]


def test_one_disk_with_disk_n_to_a_file_name_is_compared_with_the_member(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    ran = run("convert", ova, tmp_path / "second.raw", "-O", "raw", "--disk", "2", "--verify=full")
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert "qemu-img compare: identical to the source" in ran.stdout
    assert same_guest_data(tmp_path / "src" / "disk2.vmdk.src.raw", "raw", tmp_path / "second.raw", "raw")
    assert not same_guest_data(tmp_path / "src" / "disk1.vmdk.src.raw", "raw", tmp_path / "second.raw", "raw")


def test_a_loose_ovf_converts_the_disk_beside_it(tmp_path: Path) -> None:
    ovf, _ = appliance_folder(tmp_path / "vm")
    ran = run("convert", ovf, tmp_path, "-O", "vdi")
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert same_guest_data(tmp_path / "vm" / "disk1.vmdk.src.raw", "raw", tmp_path / "disk1.vdi", "vdi")


def test_several_disks_need_a_folder(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    ran = run("convert", ova, tmp_path / "x.qcow2", "-O", "qcow2")
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert not (tmp_path / "x.qcow2").exists()


def test_a_taken_output_name_stops_the_job_before_any_disk_is_written(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "disk2.qcow2").write_bytes(b"mine")
    ran = run("convert", ova, out, "-O", "qcow2")
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert sorted(p.name for p in out.iterdir()) == ["disk2.qcow2"]
    assert (out / "disk2.qcow2").read_bytes() == b"mine"


def test_a_refused_disk_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    ova = ova_with_a_qcow2_behind_vmdk(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    ran = run("convert", ova, out, "-O", "raw")
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert "claims to be vmdk" in ran.stderr
    assert list(out.iterdir()) == []


def test_an_ova_changed_after_its_inspection_is_not_converted(tmp_path: Path) -> None:
    ova = make_ova(tmp_path)
    qemu = QemuImg()
    report = inspect_appliance(ova, qemu)
    with open(ova, "r+b") as f:  # the same bytes written again: only its ctime tells
        data = f.read(512)
        f.seek(0)
        f.write(data)
    request = ConvertRequest(ova, tmp_path, "qcow2")
    with pytest.raises(SourceChanged):
        plan_appliance(report, request, qemu)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "vm.ova"]


def test_a_cancelled_appliance_conversion_leaves_nothing(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    out = tmp_path / "out"
    out.mkdir()
    qemu = QemuImg()
    plans = plan_appliance(inspect_appliance(ova, qemu), ConvertRequest(ova, out, "qcow2"), qemu)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        ApplianceConvertJob(plans, qemu, cancel=cancel).run()
    assert os.listdir(out) == []


def test_disk_n_out_of_range_says_how_many_there_are(tmp_path: Path) -> None:
    ran = run("convert", make_ova(tmp_path), tmp_path, "-O", "raw", "--disk", "3")
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert "has no disk 3; it has 1" in ran.stderr
