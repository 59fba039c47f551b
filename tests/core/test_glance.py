"""Against a real Glance 33 on 127.0.0.1: list, show, fetch by id and by name, fetch-to-raw,
wrong token, an image without data, a corrupted stored file, an ISO registered as raw."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.errors import ChecksumMismatch, DiskscopeError, UnsafeImage
from diskscope.core.fetch.http import HttpOptions, Unauthorized
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.qemu.qemu_img import QemuImg
from glancekit import glance, upload  # noqa: F401 - the fixture
from imagekit import MiB, iso_volume_descriptors, qemu_img


def raw_data(size: int = 8 * MiB) -> bytes:
    data = bytearray(size)
    for offset in range(0, size, MiB):
        data[offset : offset + 8192] = bytes([offset // MiB + 7]) * 8192
    return bytes(data)


@pytest.fixture(scope="module")
def images(glance, tmp_path_factory):  # type: ignore[no-untyped-def]  # noqa: F811
    folder = tmp_path_factory.mktemp("uploads")
    raw = raw_data()
    (folder / "r.raw").write_bytes(raw)
    made = {"raw": raw}
    for fmt, opts in (("qcow2", []), ("vmdk", ["-o", "subformat=streamOptimized"])):
        qemu_img("convert", "-f", "raw", "-O", fmt, *opts, folder / "r.raw", folder / f"r.{fmt}")
        made[fmt] = (folder / f"r.{fmt}").read_bytes()
    ids = {fmt: upload(glance, f"test-{fmt}", data, fmt) for fmt, data in made.items()}
    ids["empty"] = upload(glance, "no-data", None, "qcow2")
    return {"ids": ids, "data": made}


def client(glance, token: str | None = None) -> GlanceClient:  # type: ignore[no-untyped-def]  # noqa: F811
    return GlanceClient(glance.endpoint, HttpOptions(token=glance.token if token is None else token))


def test_list_follows_pages_and_filters(glance, images) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c = client(glance)
    names = {i.name for i in c.images()}
    assert {"test-raw", "test-qcow2", "test-vmdk", "no-data"} <= names
    page_by_page = c.images(limit="1")
    assert {i.id for i in page_by_page} == {i.id for i in c.images()}
    qcow2 = c.images(disk_format="qcow2", status="active")
    assert [i.name for i in qcow2] == ["test-qcow2"]


def test_show_has_the_checksums(glance, images) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    image = client(glance).image(images["ids"]["qcow2"])
    assert image.size == len(images["data"]["qcow2"])
    assert image.os_hash_algo == "sha512" and image.os_hash_value
    assert image.checksum and image.status == "active"


def test_wrong_token_is_one_sentence(glance, images) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    with pytest.raises(Unauthorized, match="401") as exc:
        client(glance, token="wrong").images()
    assert "wrong" not in str(exc.value)


def test_fetch_by_url_keeps_format(glance, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url = f"{glance.endpoint}/v2/images/{images['ids']['vmdk']}"
    request = FetchRequest(url, tmp_path / "d.vmdk", HttpOptions(token=glance.token), to_raw=False)
    result = FetchJob(request, QemuImg()).run()
    assert result.destination.read_bytes() == images["data"]["vmdk"]
    assert "sha512 (Glance os_hash_value)" in result.download.verified_by
    assert "md5 (Glance checksum)" in result.download.verified_by


def test_fetch_to_raw_by_name(glance, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    request = FetchRequest("test-qcow2", tmp_path, HttpOptions(token=glance.token), endpoint=glance.endpoint)
    result = FetchJob(request, QemuImg()).run()
    assert result.destination == tmp_path / "test-qcow2.raw"
    assert result.destination.read_bytes() == images["data"]["raw"]
    assert result.conversion is not None and result.glance_image is not None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test-qcow2.raw"]


def test_image_without_data_is_refused(glance, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    url = f"{glance.endpoint}/v2/images/{images['ids']['empty']}"
    with pytest.raises(DiskscopeError, match="queued, not active"):
        FetchJob(FetchRequest(url, tmp_path / "x", HttpOptions(token=glance.token)), QemuImg()).run()
    assert list(tmp_path.iterdir()) == []


def test_corrupted_stored_file_is_refused_and_nothing_left(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    data = raw_data(4 * MiB)
    image_id = upload(glance, "to-corrupt", data, "raw")
    stored = glance.image_file(image_id)
    with open(stored, "r+b") as f:  # Glance serves it with the old checksums
        f.seek(MiB)
        f.write(b"EVIL")
    url = f"{glance.endpoint}/v2/images/{image_id}/file"
    with pytest.raises(ChecksumMismatch, match="sha512"):
        FetchJob(FetchRequest(url, tmp_path / "x.raw", HttpOptions(token=glance.token)), QemuImg()).run()
    assert list(tmp_path.iterdir()) == []


def test_ambiguous_name_lists_the_ids(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    first = upload(glance, "twin", raw_data(MiB), "raw")
    second = upload(glance, "twin", raw_data(MiB), "raw")
    with pytest.raises(DiskscopeError) as exc:
        client(glance).find("twin")
    assert first in str(exc.value) and second in str(exc.value)


def test_cli_glance_list_and_fetch(glance, images, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = {"OS_AUTH_TOKEN": glance.token, "OS_IMAGE_URL": glance.endpoint, "PATH": "/usr/bin:/bin"}
    listed = subprocess.run([sys.executable, "-m", "diskscope", "glance", "list", "--json"],
                            capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert "test-raw" in {i["name"] for i in json.loads(listed.stdout)}
    fetched = subprocess.run(
        [sys.executable, "-m", "diskscope", "fetch", "test-vmdk", str(tmp_path), "--json", "-q"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert fetched.returncode == 0, fetched.stderr
    result = json.loads(fetched.stdout)
    assert Path(result["destination"]).read_bytes() == images["data"]["raw"]
    assert glance.token not in fetched.stdout + fetched.stderr


def test_an_iso_registered_as_raw_is_refused(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    iso = b"\0" * 32768 + iso_volume_descriptors() + b"\0" * MiB
    image_id = upload(glance, "iso-as-raw", iso, "raw")  # Glance 33 stores it: raw is not checked
    url = f"{glance.endpoint}/v2/images/{image_id}"
    with pytest.raises(UnsafeImage, match="claims to be raw but its content is iso"):
        FetchJob(FetchRequest(url, tmp_path / "x.raw", HttpOptions(token=glance.token)), QemuImg()).run()
    assert list(tmp_path.iterdir()) == []


def test_cli_verbose_never_shows_the_token(glance, images) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    env = {"OS_AUTH_TOKEN": glance.token, "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "diskscope", "glance", "list", glance.endpoint, "-v"],
                          capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "DEBUG urllib3.connectionpool" in done.stderr and "test-raw" in done.stdout
    assert glance.token not in done.stdout + done.stderr
