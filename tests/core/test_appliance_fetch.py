"""`diskscope fetch` of an .ova URL from a real HTTP server: downloaded, verified, then
inspected as the appliance it is (not stopped as "a tar archive" after its headers)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from clikit import Ran, assert_one_sentence, run
from diskscope.core.cli import ExitCode
from diskscope.core.fetch.pipeline import suggested_name
from httpserver import ImageServer
from ovakit import make_ova, ova_with_a_qcow2_behind_vmdk, regular, tar_bytes


def fetch_into_folder(
    server: ImageServer, tmp_path: Path, served: bytes, expected: bytes
) -> tuple[Ran, Path]:
    """`diskscope fetch URL DEST/` of `served`, with the sha256 of `expected`."""
    server.files["vm.ova"] = served
    dest = tmp_path / "dest"
    dest.mkdir()
    digest = hashlib.sha256(expected).hexdigest()
    return run("fetch", server.url("vm.ova"), dest, "--sha256", digest, "-q"), dest


def test_an_ova_is_downloaded_verified_and_inspected_as_an_appliance(
    server: ImageServer, tmp_path: Path
) -> None:
    ova = make_ova(tmp_path, disks=2)
    data = ova.read_bytes()
    server.files["vm.ova"] = data
    dest = tmp_path / "dest"
    dest.mkdir()
    ran = run(
        "fetch", server.url("vm.ova"), dest, "--sha256", hashlib.sha256(data).hexdigest(), "--json", "-q"
    )
    assert ran.returncode == ExitCode.OK, ran.stderr
    result = json.loads(ran.stdout)
    assert result["format"] == "ova" and result["converted"] is False
    appliance = result["appliance"]
    assert appliance["safe"] and [d["file"] for d in appliance["disks"]] == ["disk1.vmdk", "disk2.vmdk"]
    assert appliance["manifest"]["files"] == ["vm.ovf", "disk1.vmdk", "disk2.vmdk"]
    assert sorted(p.name for p in dest.iterdir()) == ["vm.ova"]
    assert appliance["path"] == str(dest / "vm.ova")
    assert {d["image"]["path"] for d in appliance["disks"]} == {str(dest / "vm.ova")}
    assert (dest / "vm.ova").read_bytes() == data


def test_the_text_says_how_to_convert_the_disks(server: ImageServer, tmp_path: Path) -> None:
    data = make_ova(tmp_path).read_bytes()
    server.files["vm.ova"] = data
    ran = run(
        "fetch",
        server.url("vm.ova"),
        tmp_path / "got.ova",
        "--sha256",
        hashlib.sha256(data).hexdigest(),
        "-q",
    )
    assert ran.returncode == ExitCode.OK, ran.stderr
    assert ran.stdout.startswith(f"{tmp_path / 'got.ova'}\n  appliance     OVA (vm.ovf)")
    assert "disk 1: disk1.vmdk" in ran.stdout and ".part" not in ran.stdout
    assert "diskscope convert" in ran.stdout


def test_a_hostile_ova_is_refused_after_the_download_and_nothing_is_kept(
    server: ImageServer, tmp_path: Path
) -> None:
    data = tar_bytes([regular("vm.ovf", b"<Envelope/>"), (b"disk1.vmdk", b"", b"2", b"/etc/shadow")])
    ran, dest = fetch_into_folder(server, tmp_path, data, data)
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert "symbolic link" in ran.stderr
    assert list(dest.iterdir()) == []


def test_a_changed_ova_fails_its_checksum_and_nothing_is_kept(server: ImageServer, tmp_path: Path) -> None:
    data = make_ova(tmp_path).read_bytes()
    ran, dest = fetch_into_folder(server, tmp_path, data[:-1] + b"\1", data)
    assert ran.returncode == ExitCode.ERROR
    assert_one_sentence(ran.stderr)
    assert list(dest.iterdir()) == []


def test_an_ova_with_a_refused_disk_is_not_kept(server: ImageServer, tmp_path: Path) -> None:
    data = ova_with_a_qcow2_behind_vmdk(tmp_path).read_bytes()
    ran, dest = fetch_into_folder(server, tmp_path, data, data)
    assert ran.returncode == ExitCode.REFUSED
    assert_one_sentence(ran.stderr)
    assert "Disk 1 of the downloaded appliance was refused: The image claims to be vmdk" in ran.stderr
    assert list(dest.iterdir()) == []


def test_the_name_suggested_for_an_ova_url_keeps_it_an_ova() -> None:
    assert suggested_name("https://vendor.example/appliances/web01.ova", to_raw=True) == "web01.ova"
    assert suggested_name("https://vendor.example/disk.qcow2", to_raw=True) == "disk.raw"
