"""The user's inspection policy (VMDK types, largest disk) and symbolic links in the report,
through `diskscope info/convert/fetch` as typed (in this process), on real images."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest
from clikit import Ran, run
from diskscope.core.formats import ImageFormat
from diskscope.core.policy import (
    DEFAULT_POLICY,
    InspectionPolicy,
    InvalidPolicy,
    PolicyViolation,
    parse_size,
    parse_vmdk_types,
)
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.safety import inspect_image
from httpserver import serving
from imagekit import MiB, create

GiB = 1024 * MiB


def assert_one_sentence(done: Ran) -> None:
    """A refusal: exit status 1 (refused, as in every command), one sentence on stderr."""
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("diskscope: "), done.stderr
    assert "Traceback" not in done.stderr


def vmdks(folder: Path) -> tuple[Path, Path]:
    sparse = create(folder / "sparse.vmdk", "vmdk", "64M")
    stream = create(folder / "stream.vmdk", "vmdk", "64M", "subformat=streamOptimized")
    return sparse, stream


def test_sizes_as_typed() -> None:
    assert parse_size("20G") == 20 * GiB
    assert parse_size("20g") == parse_size("20GiB") == parse_size("20480M") == 20 * GiB
    assert parse_size("1.5T") == 3 * (1 << 39)
    assert parse_size("512") == 512
    assert parse_size(" 4K ") == 4096
    for bad in ("", "20X", "G", "-1G", "0", "1e9"):
        with pytest.raises(InvalidPolicy):
            parse_size(bad)


def test_the_policy_only_narrows() -> None:
    assert parse_vmdk_types("streamOptimized, monolithicSparse") == DEFAULT_POLICY.vmdk_allowed_types
    assert parse_vmdk_types("") == frozenset()
    for wider in ("twoGbMaxExtentFlat", "monolithicFlat", "vmfs", "streamoptimized"):
        with pytest.raises(InvalidPolicy, match="keep all their data in one file"):
            parse_vmdk_types(wider)
        with pytest.raises(InvalidPolicy):
            InspectionPolicy(vmdk_allowed_types=frozenset({wider}))


def test_multi_file_vmdk_stays_refused_by_the_gate_not_the_policy(tmp_path: Path) -> None:
    flat = tmp_path / "flat.vmdk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
                    str(flat), "1M"], check=True)  # fmt: skip
    report = inspect_image(flat, QemuImg(), policy=InspectionPolicy(max_virtual_size=GiB))
    assert not report.safe
    assert not any(isinstance(v, PolicyViolation) for v in report.violations)


def test_info_with_allowed_vmdk_types(tmp_path: Path) -> None:
    sparse, stream = vmdks(tmp_path)
    done = run("info", "--vmdk-allowed-types", "streamOptimized", "--json", sparse, stream)
    assert done.returncode == 1, done.stderr
    first, second = json.loads(done.stdout)
    assert first["safe"] is False
    assert first["violations"] == [
        {
            "code": "policy",
            "rule": "vmdk_allowed_types",
            "message": "The VMDK create type monolithicSparse is not among the allowed types "
            "(streamOptimized).",
        }
    ]
    assert second["safe"] is True
    text = run("info", "--vmdk-allowed-types", "", sparse).stdout
    assert "The VMDK create type monolithicSparse is not allowed: your policy accepts no VMDK." in text
    assert "REFUSED" in text
    assert run("info", sparse, stream).returncode == 0  # the default: both accepted, as before


def test_info_with_a_maximum_virtual_size(tmp_path: Path) -> None:
    exact = create(tmp_path / "exact.qcow2", "qcow2", "20G")
    larger = create(tmp_path / "larger.qcow2", "qcow2", str(20 * GiB + 512))
    done = run("info", "--max-virtual-size", "20G", exact, larger)
    assert done.returncode == 1
    assert done.stdout.count("SAFE to hand to a hypervisor") == 1
    assert (
        "The virtual size of 20.0 GiB (21,474,836,992 bytes) is larger than the "
        "20.0 GiB (21,474,836,480 bytes) your policy allows." in done.stdout
    )
    assert "What to do: The disk is larger than your policy allows" in done.stdout


def test_bad_policy_arguments_are_refused_before_anything_runs(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    done = run("info", "--vmdk-allowed-types", "monolithicSparse,twoGbMaxExtentFlat", path)
    assert done.returncode == 2
    assert "'twoGbMaxExtentFlat' cannot be allowed" in done.stderr
    assert done.stdout == ""
    done = run("convert", "--max-virtual-size", "20X", "-O", "raw", path, tmp_path / "o.raw")
    assert done.returncode == 2 and "'20X' is not a size" in done.stderr
    assert not (tmp_path / "o.raw").exists()


def test_convert_follows_the_policy(tmp_path: Path) -> None:
    source = create(tmp_path / "disk.qcow2", "qcow2", "16M")
    out = tmp_path / "out"
    out.mkdir()
    done = run("convert", "--max-virtual-size", "8M", "-O", "raw", "-q", source, out / "d.raw")
    assert_one_sentence(done)
    assert done.stderr == (
        f"diskscope: {source} was refused: The virtual size of 16.0 MiB (16,777,216 bytes) is larger "
        "than the 8.0 MiB (8,388,608 bytes) your policy allows.\n"
    )
    assert done.stdout == "" and list(out.iterdir()) == []
    sparse, _stream = vmdks(tmp_path)
    done = run("convert", "--vmdk-allowed-types", "streamOptimized", "-O", "raw", "-q", sparse, out / "v.raw")
    assert_one_sentence(done)
    assert "The VMDK create type monolithicSparse is not among the allowed types" in done.stderr
    assert list(out.iterdir()) == []
    done = run("convert", "--max-virtual-size", "16M", "-O", "raw", "-q", source, out / "d.raw")
    assert done.returncode == 0, done.stderr
    assert os.path.getsize(out / "d.raw") == 16 * MiB


def test_fetch_follows_the_policy(tmp_path: Path) -> None:
    image = create(tmp_path / "src.qcow2", "qcow2", "64M").read_bytes()
    dest = tmp_path / "dest"
    dest.mkdir()
    with serving() as server:
        server.files["disk.qcow2"] = image
        checksum = "sha256:" + hashlib.sha256(image).hexdigest()
        done = run("fetch", server.url("disk.qcow2"), dest / "disk.raw", "--checksum", checksum,
                   "--max-virtual-size", "32M", "-q")  # fmt: skip
        assert_one_sentence(done)
        assert "The downloaded image was refused: The virtual size of 64.0 MiB" in done.stderr
        assert list(dest.iterdir()) == []
        done = run("fetch", server.url("disk.qcow2"), dest / "disk.raw", "--checksum", checksum,
                   "--max-virtual-size", "64M", "-q")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in dest.iterdir()) == ["disk.raw"]


def test_policy_default_is_todays_behaviour(tmp_path: Path) -> None:
    sparse, stream = vmdks(tmp_path)
    for path in (sparse, stream, create(tmp_path / "big.qcow2", "qcow2", "16T")):
        assert inspect_image(path, QemuImg()).safe
    policy = InspectionPolicy(frozenset({"monolithicSparse"}), 32 * MiB)
    report = inspect_image(stream, QemuImg(), policy=policy)
    assert [type(v) for v in report.violations] == [PolicyViolation, PolicyViolation]
    assert report.format == ImageFormat.VMDK


# -- symbolic links: the report says where they lead ------------------------------------------


def test_a_link_to_a_host_file_names_its_target(tmp_path: Path) -> None:
    host = tmp_path / "host" / "libvirt-disk.img"
    host.parent.mkdir()
    host.write_bytes(os.urandom(4096) * 256)
    link = tmp_path / "incoming" / "disk.img"
    link.parent.mkdir()
    link.symlink_to(host)
    text = run("info", link).stdout
    assert text.splitlines()[:2] == [str(link), f"  link to       {host}"]
    data = json.loads(run("info", "--json", link).stdout)
    assert (data["path"], data["resolved_path"]) == (str(link), str(host))
    plain = json.loads(run("info", "--json", host).stdout)
    assert plain["resolved_path"] is None
    assert "link to" not in run("info", host).stdout


def test_a_link_to_etc_passwd_says_so(tmp_path: Path) -> None:
    link = tmp_path / "disk.img"
    link.symlink_to("/etc/passwd")
    data = json.loads(run("info", "--json", link).stdout)
    assert data["resolved_path"] == "/etc/passwd"
    assert "  link to       /etc/passwd" in run("info", link).stdout
