"""The first steps of a journey, in core: what a fetched file is called, and the checksum
file beside an image. Played as a user plays them: `diskscope fetch URL FOLDER` against a
real HTTP server, real qemu-img images, real SHA256SUMS files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.core.fetch.pipeline import file_name, suggested_name
from diskscope.core.fetch.sums import check_against_sums, check_sums, find_sums, parse_sums
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.report.details import gather_details
from httpserver import ImageServer, serving
from imagekit import MiB, create, qemu_img


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "diskscope", *map(str, args)], capture_output=True,
                          text=True, env=dict(os.environ), timeout=300)  # fmt: skip


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with serving() as s:
        yield s


@pytest.mark.parametrize(
    ("name", "to_raw", "fmt", "expected"),
    [
        ("cirros-0.6.2", True, None, "cirros-0.6.2.raw"),
        ("ubuntu-24.04-cloud", True, None, "ubuntu-24.04-cloud.raw"),
        ("ubuntu-24.10-cloud", True, None, "ubuntu-24.10-cloud.raw"),
        ("cirros-0.6.2-x86_64-disk.img", True, None, "cirros-0.6.2-x86_64-disk.raw"),
        ("debian-12.qcow2", True, None, "debian-12.raw"),
        ("debian-12.qcow2", False, "qcow2", "debian-12.qcow2"),
        ("cloud", False, "qcow2", "cloud.qcow2"),
        ("cirros-0.6.2", False, "qcow2", "cirros-0.6.2.qcow2"),
        ("noble-server-cloudimg-amd64.img", False, "qcow2", "noble-server-cloudimg-amd64.img"),
        ("win.VHD", False, "vpc", "win.vhd"),
        ("cirros-0.6.2", False, None, "cirros-0.6.2"),
    ],
)
def test_only_a_known_image_extension_is_cut(name: str, to_raw: bool, fmt: str | None, expected: str) -> None:
    from diskscope.core.formats import parse_format_name

    assert file_name(name, to_raw, parse_format_name(fmt) if fmt else None) == expected


def test_suggested_name_for_a_url_and_a_glance_image() -> None:
    assert suggested_name("https://x/images/cirros-0.6.2?sig=SECRET", True) == "cirros-0.6.2.raw"
    assert suggested_name("https://x/debian-12.qcow2", False) == "debian-12.qcow2"
    assert suggested_name("ubuntu-24.04-cloud", False, "qcow2") == "ubuntu-24.04-cloud.qcow2"
    assert suggested_name("ubuntu 24.04", True, "qcow2") == "ubuntu_24.04.raw"


def _qcow2_bytes(tmp_path: Path) -> bytes:
    return create(tmp_path / "src.qcow2", "qcow2", "4M").read_bytes()


def test_fetch_to_raw_keeps_the_version_in_the_name(server: ImageServer, tmp_path: Path) -> None:
    data = _qcow2_bytes(tmp_path)
    server.files["cirros-0.6.2"] = data
    server.files["ubuntu-24.04-cloud"] = data
    server.files["ubuntu-24.10-cloud"] = data
    out = tmp_path / "out"
    out.mkdir()
    for name in ("cirros-0.6.2", "ubuntu-24.04-cloud", "ubuntu-24.10-cloud"):
        proc = run("fetch", server.url(name), out, "--unverified", "-q")
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "cirros-0.6.2.raw", "ubuntu-24.04-cloud.raw", "ubuntu-24.10-cloud.raw"
    ]  # fmt: skip


def test_a_kept_format_gets_its_extension_from_the_headers(server: ImageServer, tmp_path: Path) -> None:
    server.files["cloud"] = _qcow2_bytes(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    proc = run("fetch", server.url("cloud"), out, "--unverified", "--keep-format", "-q", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["destination"] == str(out / "cloud.qcow2")
    assert [p.name for p in out.iterdir()] == ["cloud.qcow2"]
    assert (
        json.loads(qemu_img("info", "-f", "qcow2", "--output=json", out / "cloud.qcow2"))["format"] == "qcow2"
    )


def test_a_wrong_checksum_names_who_gave_it(server: ImageServer, tmp_path: Path) -> None:
    server.files["d.img"] = b"\x01" * MiB
    proc = run("fetch", server.url("d.img"), tmp_path, "--sha256", "0" * 64, "-q")
    assert proc.returncode != 0
    assert "but you gave " + "0" * 64 in proc.stderr and "you says" not in proc.stderr


# -- checksum files ---------------------------------------------------------------------------


def test_parse_gnu_text_binary_and_bsd_lines() -> None:
    a, b, c = "a" * 64, "b" * 64, "c" * 64
    text = (
        "-----BEGIN PGP SIGNED MESSAGE-----\n"
        f"{a}  disk.img\n{b} *./other.qcow2\nSHA256 (third one.raw) = {c.upper()}\n"
        "# a comment\nnot a line\n" + "d" * 10 + "  short.img\n"
    )
    assert parse_sums(text, "sha256") == {
        "disk.img": ("sha256", a), "other.qcow2": ("sha256", b), "third one.raw": ("sha256", c),
    }  # fmt: skip
    assert parse_sums(f"SHA512 (x) = {'e' * 128}\n", "sha256") == {"x": ("sha512", "e" * 128)}


@pytest.mark.parametrize("style", ["gnu", "binary", "bsd", "single"])
def test_an_image_is_checked_against_the_file_beside_it(tmp_path: Path, style: str) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    line = {
        "gnu": f"{'0' * 64}  other.img\n{digest}  disk.qcow2\n",
        "binary": f"{digest} *disk.qcow2\n",
        "bsd": f"SHA256 (disk.qcow2) = {digest}\n",
        "single": f"{digest}  disk.qcow2\n",
    }[style]
    sums = tmp_path / ("disk.qcow2.sha256" if style == "single" else "SHA256SUMS")
    sums.write_text(line)
    check = check_against_sums(image)
    assert check is not None and check.matches and check.sums_file == sums
    assert check.sentence() == f"sha256 matches {sums.name}"


def test_a_changed_image_is_a_mismatch(tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    digest = hashlib.sha512(image.read_bytes()).hexdigest()
    (tmp_path / "SHA512SUMS").write_text(f"{digest}  disk.qcow2\n")
    with open(image, "ab") as f:
        f.write(b"\x00" * 512)
    check = check_against_sums(image)
    assert check is not None and not check.matches and check.algorithm == "sha512"
    assert "does not match SHA512SUMS" in check.sentence()


def test_no_list_no_check(tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  someone-else.img\n")
    assert check_against_sums(image) is None


def test_details_carry_the_check_and_a_readme_is_not_a_disk(tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(image.read_bytes()).hexdigest()}  disk.qcow2\n")
    (tmp_path / "README.txt").write_text("Read me first.\nThese are the images.\n")
    qemu = QemuImg()
    details = gather_details(image, qemu)
    assert details.sums == find_sums(image) and details.sums is not None
    assert check_sums(image, details.sums).matches
    for name in ("README.txt", "SHA256SUMS"):
        other = gather_details(tmp_path / name, qemu)
        assert other.not_a_disk_image and not other.owned_chain


def test_info_says_the_checksum_matches(tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "4M")
    (tmp_path / "SHA256SUMS").write_text(f"{hashlib.sha256(image.read_bytes()).hexdigest()}  disk.qcow2\n")
    proc = run("info", image)
    assert proc.returncode == 0, proc.stderr
    assert "sha256 matches SHA256SUMS" in proc.stdout


def test_a_hash_stops_when_cancelled(tmp_path: Path) -> None:
    import threading

    from diskscope.core.errors import Cancelled

    image = tmp_path / "huge.raw"
    with open(image, "wb") as f:
        f.truncate(1 << 40)  # sparse: a terabyte to read, which nobody waits for
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  huge.raw\n")
    entry = find_sums(image)
    assert entry is not None
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        check_sums(image, entry, cancel)


def test_a_device_named_in_a_list_is_not_read(tmp_path: Path) -> None:
    from diskscope.core.errors import InvalidPath
    from diskscope.core.fetch.sums import SumsEntry

    with pytest.raises(InvalidPath):
        check_sums(Path("/dev/zero"), SumsEntry(tmp_path / "SHA256SUMS", "sha256", "0" * 64))
