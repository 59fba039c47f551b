"""`fetch` of compressed images from a real HTTP server, verified against the published
checksum file beside them (signed with a real key made here): the hash is of the
compressed bytes, the result is the image inside (or raw), and tampering is refused."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.errors import ChecksumMismatch, DamagedCompressedFile, DecompressionBomb
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.qemu.qemu_img import QemuImg
from gpgkit import Signer, make_signer
from httpserver import ImageServer
from imagekit import MiB, create, qemu_img, write_pattern
from packkit import SUFFIX, compress, compress_zeros


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> Signer:
    return make_signer(tmp_path_factory.mktemp("gpg") / "home")


def publish(server: ImageServer, tmp_path: Path, packing: str, signer: Signer | None = None) -> Path:
    """A qcow2 with data, compressed, served with a SHA256SUMS (signed if `signer`)."""
    image = create(tmp_path / "cloud.qcow2", "qcow2", "64M")
    write_pattern(image, "qcow2", 3 * MiB, MiB, 0x3C)
    packed = compress(image, packing)
    server.files[packed.name] = packed.read_bytes()
    sums = tmp_path / "SHA256SUMS"
    sums.write_text(f"{hashlib.sha256(packed.read_bytes()).hexdigest()} *{packed.name}\n")
    server.files["SHA256SUMS"] = sums.read_bytes()
    if signer is not None:
        server.files["SHA256SUMS.gpg"] = signer.detach_sign(sums).read_bytes()
    return image


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("packing", ["xz", "gzip", "bzip2", "zstd", "zip"])
def test_fetch_to_raw_of_a_compressed_image_checked_against_sha256sums(
    packing: str, server: ImageServer, tmp_path: Path
) -> None:
    image = publish(server, tmp_path, packing)
    out = tmp_path / "out"
    out.mkdir()
    name = "cloud.qcow2" + SUFFIX[packing]
    request = FetchRequest(server.url(name), out, checksums_auto=True)
    result = FetchJob(request, QemuImg()).run()
    assert result.destination == out / "cloud.raw"
    assert (result.format, result.source_format, result.packed) == ("raw", "qcow2", packing)
    assert result.download.verified_by == ("sha256 (SHA256SUMS)",)  # the compressed bytes
    assert result.conversion is not None
    assert (
        f"{packing} stream: {image.stat().st_size:,} bytes decompressed as it arrived"
        in result.conversion.checks[0]
    )
    qemu_img("compare", "-f", "qcow2", "-F", "raw", image, out / "cloud.raw")
    assert leftovers(out) == ["cloud.raw"]


def test_cli_fetch_keep_format_with_a_signed_list(
    server: ImageServer, signer: Signer, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    image = publish(server, src, "xz", signer)
    keyring = signer.keyring(tmp_path / "keys.gpg")
    out = tmp_path / "out"
    out.mkdir()
    done = run("fetch", server.url("cloud.qcow2.xz"), out, "--keep-format", "--checksums", "auto",
               "--keyring", keyring, "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["decompressed_from"] == "xz" and report["format"] == "qcow2"
    assert report["verified_by"] == [
        f"sha256 (SHA256SUMS, signed by {signer.uid} (key {signer.fingerprint()}))"
    ]
    assert (out / "cloud.qcow2").read_bytes() == image.read_bytes()
    assert leftovers(out) == ["cloud.qcow2"]


def test_a_tampered_list_is_refused_before_the_image_is_downloaded(
    server: ImageServer, signer: Signer, tmp_path: Path
) -> None:
    publish(server, tmp_path, "zstd", signer)
    server.files["SHA256SUMS"] += b"0" * 64 + b"  other.img\n"
    done = run("fetch", server.url("cloud.qcow2.zst"), tmp_path / "out.raw", "--checksums", "auto",
               "--keyring", signer.keyring(tmp_path / "keys.gpg"))  # fmt: skip
    assert done.returncode == 1
    assert_one_sentence(done.stderr)
    assert "signature was refused: it is bad" in done.stderr
    assert server.hits["/files/cloud.qcow2.zst"] == 0
    assert not (tmp_path / "out.raw").exists()


def test_a_download_that_differs_from_the_list_is_refused(server: ImageServer, tmp_path: Path) -> None:
    publish(server, tmp_path, "gzip")
    server.files["cloud.qcow2.gz"] += b"\0"
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ChecksumMismatch, match="SHA256SUMS says"):
        FetchJob(FetchRequest(server.url("cloud.qcow2.gz"), out, checksums_auto=True), QemuImg()).run()
    assert leftovers(out) == []


def test_checksums_url_and_no_list_found(server: ImageServer, tmp_path: Path) -> None:
    publish(server, tmp_path, "xz")
    server.files["Fedora-CHECKSUM"] = server.files.pop("SHA256SUMS")
    done = run("fetch", server.url("cloud.qcow2.xz"), tmp_path / "a.raw", "--checksums", "auto")
    assert done.returncode == 2
    assert_one_sentence(done.stderr)
    assert "No checksum file beside" in done.stderr and "lists cloud.qcow2.xz" in done.stderr
    done = run("fetch", server.url("cloud.qcow2.xz"), tmp_path / "a.raw",
               "--checksums-url", server.url("Fedora-CHECKSUM"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "verified: sha256 (Fedora-CHECKSUM)" in done.stdout


def test_a_fetched_bomb_is_stopped_and_leaves_nothing(server: ImageServer, tmp_path: Path) -> None:
    header = compress(create(tmp_path / "small.qcow2", "qcow2", "1M"), "xz")
    bomb = header.read_bytes() + compress_zeros("256M", "xz", tmp_path / "zeros.xz").read_bytes()
    server.files["bomb.qcow2.xz"] = bomb
    out = tmp_path / "out"
    out.mkdir()
    request = FetchRequest(server.url("bomb.qcow2.xz"), out, checksum=hashlib.sha256(bomb).hexdigest())
    with pytest.raises(DecompressionBomb, match="more than the size the qcow2 image inside declares"):
        FetchJob(request, QemuImg()).run()
    assert leftovers(out) == []


def test_a_refused_image_inside_stops_the_download_after_its_headers(
    server: ImageServer, tmp_path: Path
) -> None:
    base = create(tmp_path / "base.qcow2", "qcow2", "64M")
    overlay = create(tmp_path / "o.qcow2", "qcow2", "64M", f"backing_file={base}", "backing_fmt=qcow2")
    data = compress(overlay, "zstd").read_bytes()
    server.files["o.qcow2.zst"] = data
    done = run("fetch", server.url("o.qcow2.zst"), tmp_path / "o.raw", "--checksum",
               "sha256:" + hashlib.sha256(data).hexdigest())  # fmt: skip
    assert done.returncode == 1
    assert "backing file" in done.stderr
    assert not (tmp_path / "o.raw").exists()


@pytest.mark.parametrize("fault", ["cut", "cut-norange"])
def test_a_cut_compressed_download_resumes_or_restarts_to_the_same_image(
    fault: str, server: ImageServer, tmp_path: Path
) -> None:
    """The connection drops halfway (the server honours Range, or starts over): the
    inspector of the image inside goes on, or starts again, with the bytes."""
    image = publish(server, tmp_path, "xz")
    out = tmp_path / "out"
    out.mkdir()
    request = FetchRequest(server.url("cloud.qcow2.xz", fault), out / "cloud.qcow2", to_raw=False,
                           checksum=hashlib.sha256(server.files["cloud.qcow2.xz"]).hexdigest())  # fmt: skip
    result = FetchJob(request, QemuImg()).run()
    assert server.hits[f"/{fault}/cloud.qcow2.xz"] == 2
    assert (out / "cloud.qcow2").read_bytes() == image.read_bytes()
    assert result.packed == "xz" and leftovers(out) == ["cloud.qcow2"]


def _spliced_zip(tmp_path: Path) -> tuple[bytes, Path]:
    """The local header and data of image A, then a whole zip of image B: zipfile, unzip and
    `info` read B through the central directory; a reader of the first local header gets A."""
    a = create(tmp_path / "a.qcow2", "qcow2", "16M")
    write_pattern(a, "qcow2", 0, MiB, 0xAA)
    b = create(tmp_path / "b.qcow2", "qcow2", "16M")
    write_pattern(b, "qcow2", 0, MiB, 0xBB)
    zips = []
    for image in (a, b):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.write(image, "cloud.qcow2")
        zips.append(buffer.getvalue())
    first = zips[0][: zipfile.ZipFile(io.BytesIO(zips[0])).start_dir]
    return first + zips[1], b


def _stored_zip_with_a_flipped_byte(tmp_path: Path) -> tuple[bytes, Path]:
    """A stored member one data byte of which no longer matches its CRC-32 (no hash given)."""
    image = create(tmp_path / "c.qcow2", "qcow2", "16M")
    write_pattern(image, "qcow2", 0, MiB, 0xCC)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.write(image, "cloud.qcow2")
    data = bytearray(buffer.getvalue())
    data[-(1 << 16)] ^= 0xFF  # in the guest data near the end, far from every header
    return bytes(data), image


@pytest.mark.parametrize("build", [_spliced_zip, _stored_zip_with_a_flipped_byte])
def test_a_fetched_zip_must_be_the_member_its_directory_names(
    build: Callable[[Path], tuple[bytes, Path]], server: ImageServer, tmp_path: Path
) -> None:
    """A zip is inflated from its first local header as it arrives; `info` and `convert`
    read the member the central directory names, and check its CRC-32. Fetch must deliver
    that same member or nothing."""
    data, _ = build(tmp_path)
    server.files["cloud.qcow2.zip"] = data
    out = tmp_path / "out"
    out.mkdir()
    request = FetchRequest(server.url("cloud.qcow2.zip"), out, to_raw=False, allow_unverified=True)
    with pytest.raises(DamagedCompressedFile):
        FetchJob(request, QemuImg()).run()
    assert leftovers(out) == []
