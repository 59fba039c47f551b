"""OVA and OVF appliances as vendors ship them: real streamOptimized VMDKs from qemu-img,
packed by the real `tar`, inspected in place by `diskscope info`, through `main(argv)`."""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.appliance.appliance import inspect_appliance, is_appliance
from diskscope.core.cli import ExitCode
from imagekit import create, qemu_img
from ovakit import (
    Disk,
    WatchedQemuImg,
    appliance_folder,
    files_in,
    make_ova,
    manifest,
    ova_with_a_qcow2_behind_vmdk,
    ovf_text,
    pack,
    stream_vmdk,
)


def test_info_shows_the_hardware_and_each_disk_read_inside_the_tar(tmp_path: Path) -> None:
    ova = make_ova(tmp_path, disks=2)
    before = files_in(tmp_path)
    ran = run("info", "--json", ova)
    assert ran.returncode == ExitCode.OK, ran.stderr
    data = json.loads(ran.stdout)
    assert data["appliance"] == "ova" and data["safe"] is True
    system = data["systems"][0]
    assert (system["name"], system["cpus"], system["memory"], system["firmware"]) == (
        "web01",
        2,
        2 << 30,
        "EFI",
    )
    assert system["controllers"] == ["SCSI (lsilogic)"]
    assert system["nics"] == ["VmxNet3 on VM Network"]
    assert data["manifest"]["files"] == ["vm.ovf", "disk1.vmdk", "disk2.vmdk"]
    with tarfile.open(ova) as tar:
        where = {m.name: (m.offset_data, m.size) for m in tar.getmembers()}
    for disk, virtual in zip(data["disks"], (64 << 20, 32 << 20), strict=True):
        assert (disk["offset"], disk["size"]) == where[disk["file"]]
        assert disk["controller"] == "SCSI (lsilogic)"
        image = disk["image"]
        assert (image["format"], image["subformat"], image["virtual_size"]) == (
            "vmdk",
            "streamOptimized",
            virtual,
        )
        assert image["safe"] and image["actual_size"] == disk["size"]
    assert files_in(tmp_path) == before  # nothing was extracted


def test_info_text_names_the_appliance_and_its_disks(tmp_path: Path) -> None:
    ran = run("info", make_ova(tmp_path))
    assert ran.returncode == ExitCode.OK, ran.stderr
    for words in ("OVA (vm.ovf)", "web01", "2.0 GiB", "EFI", "SCSI (lsilogic)", "VmxNet3 on VM Network",
                  "disk 1: disk1.vmdk on SCSI (lsilogic)", "vmdk (streamOptimized)",
                  "2 files match the manifest vm.mf (SHA256)", "not signed"):  # fmt: skip
        assert words in ran.stdout, words
    assert ran.stdout.rstrip().endswith("verdict       SAFE to hand to a hypervisor")


def test_a_loose_ovf_is_inspected_with_the_disks_beside_it(tmp_path: Path) -> None:
    ovf, _ = appliance_folder(tmp_path / "vm")
    ran = run("info", "--json", ovf)
    assert ran.returncode == ExitCode.OK, ran.stderr
    data = json.loads(ran.stdout)
    assert data["appliance"] == "ovf"
    assert data["disks"][0]["image"]["path"] == str(tmp_path / "vm" / "disk1.vmdk")


def test_qemu_img_reads_only_the_members_byte_range(tmp_path: Path) -> None:
    qemu = WatchedQemuImg()
    report = inspect_appliance(make_ova(tmp_path), qemu)
    disk = report.disks[0]
    assert disk.report is not None and disk.report.safe
    info = next(args for args in qemu.ran if args[0] == "info")
    node = json.loads(info[-1].removeprefix("json:"))
    assert node["driver"] == "vmdk" and node["backing"] is None
    assert node["file"] == {"driver": "raw", "offset": disk.source.offset, "size": disk.source.size,  # type: ignore[union-attr]
                            "file": {"driver": "file", "filename": str(tmp_path / "vm.ova")}}  # fmt: skip


def test_a_plain_tar_is_still_refused_as_an_archive(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello\n")
    subprocess.run(["tar", "-cf", str(tmp_path / "x.tar"), "-C", str(tmp_path), "notes.txt"], check=True)
    assert not is_appliance(tmp_path / "x.tar")
    ran = run("info", "--json", tmp_path / "x.tar")
    assert ran.returncode == ExitCode.REFUSED
    assert json.loads(ran.stdout)["violations"][0]["code"] == "not_a_disk_image"


def test_a_vmdk_made_by_qemu_in_another_subformat_is_refused_against_its_ovf_format(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicSparse",
             create(src / "d.raw", "raw", "16M"), src / "disk1.vmdk")  # fmt: skip
    (src / "vm.ovf").write_text(ovf_text(src, [Disk("disk1.vmdk", 16 << 20)]))
    ran = run("info", "--json", pack(src, ["vm.ovf", "disk1.vmdk"], tmp_path / "vm.ova"))
    assert ran.returncode == ExitCode.REFUSED
    image = json.loads(ran.stdout)["disks"][0]["image"]
    assert [v["code"] for v in image["violations"]] == ["format_mismatch"]


def test_a_qcow2_disk_that_the_ovf_calls_vmdk_is_refused_before_qemu_opens_it(tmp_path: Path) -> None:
    ova = ova_with_a_qcow2_behind_vmdk(tmp_path)
    qemu = WatchedQemuImg()
    report = inspect_appliance(ova, qemu)
    assert not report.safe and qemu.ran == []
    disk = report.disks[0].report
    assert disk is not None and disk.violations[0].code == "format_mismatch"
    assert run("info", ova).returncode == ExitCode.REFUSED


def test_a_signed_ova_shows_whom_the_certificate_names_and_says_it_is_not_trusted(tmp_path: Path) -> None:
    ova, _ = _signed(tmp_path)
    ran = run("info", "--json", ova)
    assert ran.returncode == ExitCode.OK, ran.stderr
    cert = json.loads(ran.stdout)["certificate"]
    assert (cert["signs"], cert["signature_matches"], cert["trusted"]) == ("vm.mf", True, False)
    assert "CN=Appliance Vendor" in cert["subject"]
    text = run("info", ova).stdout
    assert "not checked against any trust root" in text


def _signed(tmp_path: Path, tamper: bool = False) -> tuple[Path, Path]:
    _, names = appliance_folder(tmp_path / "src")
    src = tmp_path / "src"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=Appliance Vendor", "-keyout", str(src / "key.pem"), "-out", str(src / "crt.pem")],
                   check=True, capture_output=True)  # fmt: skip
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(src / "key.pem"), str(src / "vm.mf")],
                               check=True, capture_output=True).stdout  # fmt: skip
    if tamper:
        (src / "vm.mf").write_text((src / "vm.mf").read_text() + "\n")
    (src / "vm.cert").write_text(f"SHA256(vm.mf)= {signature.hex()}\n" + (src / "crt.pem").read_text())
    return pack(src, [*names, "vm.cert"], tmp_path / "vm.ova"), src


def appliance_json(ran: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(ran.stdout)
    return data


def test_manifest_written_with_sha1_is_verified_too(tmp_path: Path) -> None:
    _, names = appliance_folder(tmp_path / "src")
    (tmp_path / "src" / "vm.mf").write_text(manifest(tmp_path / "src", ["vm.ovf", "disk1.vmdk"], "SHA1"))
    ran = run("info", "--json", pack(tmp_path / "src", names, tmp_path / "vm.ova"))
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert appliance_json(ran)["manifest"]["algorithms"] == ["sha1"]


def test_a_disk_with_no_file_is_listed_as_empty(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    stream_vmdk(src, "disk1.vmdk", "16M")
    text = ovf_text(src, [Disk("disk1.vmdk", 16 << 20)]).replace(
        "</DiskSection>",
        '<Disk ovf:diskId="blank" ovf:capacity="1" ovf:capacityAllocationUnits="byte * 2^30"/></DiskSection>',
    )
    (src / "vm.ovf").write_text(text)
    data = appliance_json(run("info", "--json", pack(src, ["vm.ovf", "disk1.vmdk"], tmp_path / "vm.ova")))
    blank = data["disks"][1]
    assert (blank["file"], blank["capacity"], blank["image"], blank["safe"]) == (None, 1 << 30, None, True)


@pytest.mark.parametrize("case", ["ok", "tampered"])
def test_the_signature_is_checked_against_the_manifest(case: str, tmp_path: Path) -> None:
    ova, _ = _signed(tmp_path, tamper=case == "tampered")
    ran = run("info", ova)
    if case == "ok":
        assert ran.returncode == ExitCode.OK, ran.stderr
        return
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert "changed after it was signed" in ran.stderr


def test_a_fifo_is_never_read_and_an_ova_link_to_one_is_one_sentence(tmp_path: Path) -> None:
    fifo = tmp_path / "vm.img"
    os.mkfifo(fifo)
    assert not is_appliance(fifo)  # its content is not read
    (tmp_path / "vm.ova").symlink_to(fifo)
    ran = run("info", tmp_path / "vm.ova")
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert "named pipe" in ran.stderr


@pytest.mark.parametrize("command", [["check"], ["map"], ["measure", "-O", "raw"]])
def test_single_image_commands_say_an_ova_is_an_appliance(command: list[str], tmp_path: Path) -> None:
    ran = run(command[0], make_ova(tmp_path), *command[1:])
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert "is an appliance, not one image" in ran.stderr
