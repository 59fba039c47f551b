"""Publishing to a real Glance 33 on 127.0.0.1: by PUT and by glance-direct, a round trip
through `diskscope fetch`, refusals before any byte is sent (unsafe image, wrong disk
format, a property the cloud does not take), a cancelled upload leaving nothing behind, a
503 while staging asked again, a byte altered on the way and a stalled link (a real proxy
plays each), a source rewritten during the upload, --convert-to, web-download, the CLI."""

# ruff: noqa: F811 - `glance` is the session fixture imported from glancekit, used by name
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.cloud.properties import suggest
from diskscope.core.cloud.upload import UploadJob, UploadMethod, UploadRequest
from diskscope.core.errors import (
    Cancelled,
    ChecksumMismatch,
    InvalidProperty,
    SourceChanged,
    UnsafeImage,
    UploadStalled,
    WrongDiskFormat,
)
from diskscope.core.fetch.http import HttpOptions
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.formats import ImageFormat
from diskscope.core.progress import Progress
from diskscope.core.qemu.qemu_img import QemuImg
from glancekit import glance  # noqa: F401 - the fixture
from glanceproxy import Faults, proxy
from httpserver import serving
from imagekit import MiB, create, gpt_disk_with_esp, qemu_img, write_pattern


def client(endpoint: str, token: str) -> GlanceClient:
    return GlanceClient(endpoint, HttpOptions(token=token))


def names(glance) -> list[str]:  # type: ignore[no-untyped-def]
    return [i.name or "" for i in client(glance.endpoint, glance.token).images()]


def qcow2_with_data(path: Path, size: str = "32M") -> Path:
    create(path, "qcow2", size)
    write_pattern(path, "qcow2", 0, MiB, 0x5A)
    write_pattern(path, "qcow2", 9 * MiB, 3 * MiB, 0xC3)
    return path


def upload(glance, path: Path, **kw) -> UploadJob:  # type: ignore[no-untyped-def]
    return UploadJob(UploadRequest(path, **kw), client(glance.endpoint, glance.token), QemuImg())


def test_put_upload_then_fetch_is_byte_equal(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.qcow2")
    result = upload(glance, source, name="put-qcow2", method=UploadMethod.PUT, tags=("a", "b")).run()
    data = source.read_bytes()
    assert result.method == UploadMethod.PUT and result.image.status == "active"
    assert result.disk_format == "qcow2" and result.size == len(data)
    assert result.hash_value == hashlib.sha512(data).hexdigest() == result.image.os_hash_value
    assert result.verified == (f"size: {len(data):,} bytes",
                               "sha512: Glance's os_hash_value is the hash of the bytes sent",
                               f"virtual size: {32 * MiB:,} bytes")  # fmt: skip
    assert sorted(result.image.raw["tags"]) == ["a", "b"]
    fetched = tmp_path / "back.qcow2"
    request = FetchRequest(result.image.id, fetched, HttpOptions(token=glance.token),
                           endpoint=glance.endpoint, to_raw=False)  # fmt: skip
    back = FetchJob(request, QemuImg()).run()
    assert fetched.read_bytes() == data
    assert "sha512 (Glance os_hash_value)" in back.download.verified_by


def test_glance_direct_is_chosen_where_offered(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "disk.raw"
    source.write_bytes(bytes(range(256)) * (12 * MiB // 256))
    seen: list[Progress] = []
    job = upload(glance, source, name="direct-raw", properties={"os_distro": "debian12"})
    job.on_progress = seen.append
    result = job.run()
    assert result.method == UploadMethod.GLANCE_DIRECT
    assert glance.image_file(result.image.id).read_bytes() == source.read_bytes()
    assert result.image.raw["os_distro"] == "debian12" and result.image.disk_format == "raw"
    assert {p.phase for p in seen} >= {"uploading"} and seen[-1].done == 12 * MiB


def test_an_unsafe_image_is_refused_before_anything_is_created(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = create(tmp_path / "base.qcow2", "qcow2", "8M")
    child = tmp_path / "child.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", child)
    with pytest.raises(UnsafeImage, match=r"child\.qcow2 was refused"):
        upload(glance, child, name="unsafe-child").run()
    assert "unsafe-child" not in names(glance)
    done = subprocess.run([sys.executable, "-m", "diskscope", "glance", "upload", str(child), "--name",
                           "unsafe-cli", "--endpoint", glance.endpoint], capture_output=True, text=True,
                          env={**os.environ, "OS_AUTH_TOKEN": glance.token}, timeout=120)  # fmt: skip
    assert done.returncode == 1 and "was refused" in done.stderr
    assert "unsafe-cli" not in names(glance)


def test_a_wrong_disk_format_is_refused(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.img")
    with pytest.raises(WrongDiskFormat, match=r"is a qcow2 image .* not raw"):
        upload(glance, source, name="wrong-format", disk_format="raw").run()
    assert "wrong-format" not in names(glance)


@pytest.mark.parametrize(("properties", "message"), [
    ({"hw_disk_bus": "floppy"}, "'hw_disk_bus' cannot be 'floppy'; the cloud's metadata definitions allow scsi"),
    ({"os_hash_value": "0" * 128}, "sets 'os_hash_value' itself"),
    ({"protected": "true"}, "use --protected"),
])  # fmt: skip
def test_properties_are_checked_against_the_server(glance, tmp_path: Path, properties, message) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.qcow2")
    with pytest.raises(InvalidProperty, match=message):
        upload(glance, source, name="bad-property", properties=properties).run()
    assert "bad-property" not in names(glance)


@pytest.mark.parametrize("keep", [False, True])
def test_a_cancelled_upload_leaves_no_image(glance, tmp_path: Path, keep: bool) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "big.raw"
    source.write_bytes(b"\x01" * (16 * MiB))
    name = f"cancelled-{keep}"
    job = upload(glance, source, name=name, method=UploadMethod.PUT, keep_on_failure=keep)
    job.on_progress = lambda p: job.cancel.set()  # the first progress report: one MiB sent
    with pytest.raises(Cancelled) as raised:
        job.run()
    left = [i for i in client(glance.endpoint, glance.token).images() if i.name == name]
    if keep:
        assert len(left) == 1 and left[0].status in ("queued", "saving")  # Glance may not have seen the end
        assert "was kept in Glance, as asked" in str(raised.value)
    else:
        assert left == [] and f"The image {name} (" in str(raised.value)
        assert str(raised.value).endswith("was removed from Glance.")


def test_a_503_while_staging_is_asked_again(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.qcow2")
    faults = Faults(busy_once="/stage")
    with proxy(glance.endpoint, faults) as endpoint:
        job = UploadJob(UploadRequest(source, name="after-503"), client(endpoint, glance.token), QemuImg())
        result = job.run()
    assert faults.seen["PUT stage"] == 2 and result.method == UploadMethod.GLANCE_DIRECT
    assert result.hash_value == hashlib.sha512(source.read_bytes()).hexdigest()
    assert glance.image_file(result.image.id).read_bytes() == source.read_bytes()


def test_web_download_checks_what_glance_fetched(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.qcow2")
    with serving() as server:
        server.files["disk.qcow2"] = source.read_bytes()
        result = upload(glance, source, name="web", method=UploadMethod.WEB_DOWNLOAD,
                        url=server.url("disk.qcow2")).run()  # fmt: skip
    assert result.method == UploadMethod.WEB_DOWNLOAD and result.image.status == "active"
    assert result.image.os_hash_value == hashlib.sha512(source.read_bytes()).hexdigest()


def test_an_esp_suggests_uefi(tmp_path: Path) -> None:
    disk = gpt_disk_with_esp(tmp_path / "efi.raw")
    [found] = suggest(disk, ImageFormat.GPT)
    assert (found.key, found.value) == ("hw_firmware_type", "uefi")
    assert found.reason == "partition 2 of the GPT is an EFI system partition"
    plain = tmp_path / "plain.raw"
    plain.write_bytes(bytes(4 * MiB))
    assert suggest(plain, ImageFormat.GPT) == []


def test_cli_upload_prints_what_it_verified_and_suggests(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    disk = gpt_disk_with_esp(tmp_path / "efi.raw")
    done = subprocess.run([sys.executable, "-m", "diskscope", "glance", "upload", str(disk), "--json",
                           "--endpoint", glance.endpoint, "--property", "os_type=linux", "--protected"],
                          capture_output=True, text=True, env={**os.environ, "OS_AUTH_TOKEN": glance.token},
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["name"] == "efi.raw" and result["disk_format"] == "raw"
    assert result["suggestions"][0]["value"] == "uefi"
    record = requests.get(f"{glance.endpoint}/v2/images/{result['id']}", timeout=30,
                          headers={"X-Auth-Token": glance.token}).json()  # fmt: skip
    assert record["protected"] is True and record["os_type"] == "linux"
    assert glance.token not in done.stdout + done.stderr


def test_ctrl_c_exits_130_and_says_what_it_removed(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "slow.raw"
    source.write_bytes(b"\x02" * (24 * MiB))
    with proxy(glance.endpoint, Faults(rate=2 * MiB)) as endpoint:
        process = subprocess.Popen(
            [sys.executable, "-m", "diskscope", "glance", "upload", str(source), "--name", "interrupted",
             "--method", "put", "--endpoint", endpoint],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, "OS_AUTH_TOKEN": glance.token},
        )  # fmt: skip
        created = threading.Event()

        def watch() -> None:
            while process.poll() is None and not created.is_set():
                if "interrupted" in names(glance):
                    created.set()
                created.wait(0.2)

        watcher = threading.Thread(target=watch)
        watcher.start()
        watcher.join()
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "The upload was cancelled. The image interrupted (" in err and "removed from Glance" in err
    assert "interrupted" not in names(glance)


def test_a_byte_altered_on_the_way_is_caught_and_the_image_removed(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = qcow2_with_data(tmp_path / "disk.qcow2")
    with proxy(glance.endpoint, Faults(tamper=True)) as endpoint:
        job = UploadJob(UploadRequest(source, name="tampered", method=UploadMethod.PUT),
                        client(endpoint, glance.token), QemuImg())  # fmt: skip
        with pytest.raises(ChecksumMismatch, match="sha512 of the stored image is not the one") as raised:
            job.run()
    assert "tampered" not in names(glance) and "was removed from Glance" in str(raised.value)


def test_a_stalled_upload_stops_and_removes_the_image(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "big.raw"
    source.write_bytes(b"\x03" * (64 * MiB))  # more than the socket buffers hold
    faults = Faults(stall=True)
    with proxy(glance.endpoint, faults) as endpoint:
        job = UploadJob(UploadRequest(source, name="stalled", method=UploadMethod.PUT, stall_timeout=2),
                        client(endpoint, glance.token), QemuImg())  # fmt: skip
        with pytest.raises(UploadStalled, match="took no data for 2 seconds"):
            job.run()
    assert faults.seen["stalled"] == 1 and "stalled" not in names(glance)


def test_a_source_changed_during_the_upload_is_not_kept(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "moving.raw"
    source.write_bytes(b"\x04" * (8 * MiB))
    job = upload(glance, source, name="moving", method=UploadMethod.PUT)

    def rewrite(_progress: Progress) -> None:  # another writer, while the upload reads the file
        with open(source, "r+b") as f:
            f.seek(7 * MiB)
            f.write(b"EVIL")

    job.on_progress = rewrite
    with pytest.raises(SourceChanged, match="changed after it was inspected"):
        job.run()
    assert "moving" not in names(glance)


def test_convert_to_raw_first_and_leave_no_temporary_file(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    source = tmp_path / "vendor.vmdk"
    qemu_img("convert", "-f", "qcow2", "-O", "vmdk", qcow2_with_data(tmp_path / "src.qcow2"), source)
    (tmp_path / "src.qcow2").unlink()
    result = upload(glance, source, convert_to="openstack-raw").run()
    assert result.disk_format == "raw" and result.image.name == "vendor.vmdk"
    stored = glance.image_file(result.image.id).read_bytes()
    assert len(stored) == 32 * MiB and stored[:MiB] == b"\x5a" * MiB
    assert [p.name for p in tmp_path.iterdir()] == ["vendor.vmdk"]  # the temporary copy is gone
    assert "converted to raw before the upload" in result.notes[0]
