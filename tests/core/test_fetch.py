"""Downloads from a real HTTP server on 127.0.0.1: verification, faults, resume, and the
fetch-to-raw pipeline with the real qemu-img."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from diskscope.core.errors import ChecksumMismatch, DiskscopeError, UnsafeImage
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest, NotEnoughSpaceForDownload
from diskscope.core.fetch.http import DownloadFailed, HttpOptions
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.fetch.verification import Expectation
from diskscope.core.placement import DestinationExists
from diskscope.core.progress import Progress
from diskscope.core.qemu.qemu_img import QemuImg
from httpserver import ImageServer
from imagekit import MiB, RecordingQemuImg, qemu_img


def raw_bytes(size: int = 4 * MiB) -> bytes:
    data = bytearray(size)
    for i, offset in enumerate(range(0, size, 512 * 1024)):
        data[offset : offset + 4096] = bytes([i % 251 + 1]) * 4096
    return bytes(data)


@pytest.fixture
def image(server: ImageServer) -> bytes:
    data = raw_bytes()
    server.files["disk.img"] = data
    return data


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def fetch(url: str, dest: Path, checksum: str | None, **kw: object) -> Download:
    expect = Expectation(checksums=(parse_checksum(checksum),) if checksum else ())
    request = DownloadRequest(url, dest, HttpOptions(read_timeout=1), expect,
                              retries=kw.pop("retries", 3), backoff=0.01, **kw)  # type: ignore[arg-type]  # fmt: skip
    return Download(request)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_plain_download_is_verified(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    result = fetch(server.url("disk.img"), tmp_path / "disk.img", sha256(image)).run()
    assert result.part.read_bytes() == image
    assert result.verified_by == ("sha256 (you)",)
    assert not result.unverified
    assert leftovers(tmp_path) == ["disk.img.part"]  # the pipeline renames it


def test_no_checksum_needs_an_explicit_acknowledgement(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    with pytest.raises(DiskscopeError, match="unverified"):
        fetch(server.url("disk.img"), tmp_path / "d", None).run()
    assert leftovers(tmp_path) == []
    assert server.requests == []
    result = fetch(server.url("disk.img"), tmp_path / "d", None, allow_unverified=True).run()
    assert result.unverified and result.part.read_bytes() == image


def test_content_md5_is_checked(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    ok = fetch(server.url("disk.img", "md5"), tmp_path / "a", None, allow_unverified=True).run()
    assert "md5 (the server's Content-MD5)" in ok.verified_by
    with pytest.raises(ChecksumMismatch, match="Content-MD5"):
        fetch(server.url("disk.img", "badmd5"), tmp_path / "b", None, allow_unverified=True).run()
    assert leftovers(tmp_path) == ["a.part"]


def test_wrong_checksum_names_both_values_and_leaves_nothing(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    wrong = "sha256:" + "0" * 64
    with pytest.raises(ChecksumMismatch) as exc:
        fetch(server.url("disk.img"), tmp_path / "d", wrong).run()
    assert "0" * 64 in str(exc.value) and hashlib.sha256(image).hexdigest() in str(exc.value)
    assert leftovers(tmp_path) == []


def test_server_error_then_success(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    result = fetch(server.url("disk.img", "flaky500"), tmp_path / "d", sha256(image)).run()
    assert result.part.read_bytes() == image
    assert server.hits["/flaky500/disk.img"] == 2


def test_cut_connection_resumes_with_range(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    result = fetch(server.url("disk.img", "cut"), tmp_path / "d", sha256(image)).run()
    assert result.part.read_bytes() == image
    ranges = [h.get("Range") for p, h in server.requests]
    assert ranges == [None, f"bytes={len(image) // 2}-"]


@pytest.mark.parametrize("algorithm", ["sha256", "md5"])
def test_server_without_range_support_restarts(
    server: ImageServer, image: bytes, tmp_path: Path, algorithm: str
) -> None:
    """Starting again from zero keeps every hash that must be checked (md5 too, which is
    otherwise only added for a Content-MD5)."""
    checksum = f"{algorithm}:{hashlib.new(algorithm, image).hexdigest()}"
    result = fetch(server.url("disk.img", "norange"), tmp_path / "d", checksum).run()
    assert result.part.read_bytes() == image
    assert len(server.requests) == 2
    assert result.verified_by == (f"{algorithm} (you)",)


def test_a_resume_the_server_calls_complete_too_early_is_refused_by_size(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    """A hostile server cuts the body, then answers the resume with 416 (nothing after what
    you have) although the image goes on: the size says so before any digest does."""
    expect = Expectation(len(image), (parse_checksum(sha256(image)),))
    request = DownloadRequest(server.url("disk.img", "cut-416"), tmp_path / "d", HttpOptions(read_timeout=1),
                              expect, retries=3, backoff=0.01)  # fmt: skip
    with pytest.raises(
        ChecksumMismatch, match=f"has {len(image) // 2:,} bytes; the image should have {len(image):,}"
    ):
        Download(request).run()
    assert leftovers(tmp_path) == []


def test_more_bytes_than_the_image_has_are_refused_by_size(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    """No Content-Length to compare: the body runs on past the size the image should have."""
    short = image[:-4096]
    expect = Expectation(len(short), (parse_checksum(sha256(short)),))
    request = DownloadRequest(server.url("disk.img", "nolength"), tmp_path / "d", HttpOptions(read_timeout=1),
                              expect, retries=0)  # fmt: skip
    with pytest.raises(
        ChecksumMismatch, match=f"has {len(image):,} bytes; the image should have {len(short):,}"
    ):
        Download(request).run()
    assert leftovers(tmp_path) == []


def test_a_wrong_digest_names_who_claimed_it(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    claimed = parse_checksum(f"sha256:{'0' * 64}", "Glance os_hash_value")
    request = DownloadRequest(server.url("disk.img"), tmp_path / "d", HttpOptions(read_timeout=1),
                              Expectation(None, (claimed,)), retries=0)  # fmt: skip
    with pytest.raises(ChecksumMismatch, match=f"but Glance os_hash_value says {'0' * 64}"):
        Download(request).run()


def test_length_lie_is_settled_by_the_checksum(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    """Content-Length promises 1000 bytes more than come: the resume finds the end (416)."""
    result = fetch(server.url("disk.img", "wronglength"), tmp_path / "d", sha256(image)).run()
    assert result.part.read_bytes() == image
    assert server.requests[-1][1].get("Range") == f"bytes={len(image)}-"


def test_broken_downloads_keep_the_part_for_resuming(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    download = fetch(server.url("disk.img", "cut"), tmp_path / "d", sha256(image), retries=0)
    with pytest.raises(DownloadFailed, match=r"after 1 attempt .*resume"):
        download.run()
    assert leftovers(tmp_path) == ["d.part", "d.part.meta"]
    result = fetch(server.url("disk.img", "cut"), tmp_path / "d", sha256(image)).run()
    assert result.resumed_from > 0 and result.part.read_bytes() == image


def test_stalled_server_times_out(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    server.stall_seconds = 3
    with pytest.raises(DownloadFailed, match="stopped sending data"):
        fetch(server.url("disk.img", "stall"), tmp_path / "d", sha256(image), retries=1).run()


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("redirect-loop", "Too many redirects"),
        ("redirect-ftp", "Only http and https"),
        ("html", "web page"),
        ("gzip", "gzip-encoded"),
    ],
)
def test_refusals(server: ImageServer, image: bytes, tmp_path: Path, fault: str, words: str) -> None:
    with pytest.raises(DownloadFailed, match=words):
        fetch(server.url("disk.img", fault), tmp_path / "d", sha256(image)).run()
    assert leftovers(tmp_path) == []


def test_missing_file_is_one_sentence(server: ImageServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match=r"not found on the server \(404\)"):
        fetch(server.url("nope.img"), tmp_path / "d", "sha256:" + "1" * 64).run()


def test_token_never_crosses_to_another_host(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    expect = Expectation(checksums=(parse_checksum(sha256(image)),))
    request = DownloadRequest(server.url("disk.img", "redirect-host"), tmp_path / "d",
                              HttpOptions(token="s3cret-token"), expect)  # fmt: skip
    Download(request).run()
    first, second = server.requests
    assert first[1].get("X-Auth-Token") == "s3cret-token"
    assert "X-Auth-Token" not in second[1]
    assert "s3cret" not in repr(request)


def test_unsafe_image_is_refused_after_its_headers(server: ImageServer, tmp_path: Path) -> None:
    evil = tmp_path / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", evil, "1G")
    server.files["evil.qcow2"] = evil.read_bytes() + b"\xab" * (64 * MiB)
    seen: list[Progress] = []
    out = tmp_path / "out"
    out.mkdir()
    request = DownloadRequest(server.url("evil.qcow2"), out / "evil.qcow2", HttpOptions(),
                              allow_unverified=True)  # fmt: skip
    with pytest.raises(UnsafeImage, match="backing file"):
        Download(request, on_progress=seen.append).run()
    assert max(p.done for p in seen) < 8 * MiB
    assert leftovers(out) == []


def test_declared_format_must_match_the_content(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    server.files["liar.qcow2"] = image
    with pytest.raises(UnsafeImage, match="claims to be qcow2"):
        FetchJob(FetchRequest(server.url("liar.qcow2"), tmp_path / "x", checksum=sha256(image)),
                 QemuImg()).run()  # fmt: skip
    assert leftovers(tmp_path) == []


def test_not_enough_space_is_refused_before_the_body(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    """The free-space probe is a seam: a full disk cannot be arranged on demand here."""
    expect = Expectation(checksums=(parse_checksum(sha256(image)),))
    download = Download(DownloadRequest(server.url("disk.img"), tmp_path / "d", HttpOptions(), expect),
                        free_space=lambda _folder: 1024)  # fmt: skip
    with pytest.raises(NotEnoughSpaceForDownload):
        download.run()
    assert leftovers(tmp_path) == []


def test_a_part_from_another_download_is_not_resumed(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    (tmp_path / "d.part").write_bytes(b"junk" * 1000)
    (tmp_path / "d.part.meta").write_text(json.dumps({"url": "http://elsewhere/x", "size": None,
                                                      "checksums": []}))  # fmt: skip
    result = fetch(server.url("disk.img"), tmp_path / "d", sha256(image)).run()
    assert result.resumed_from == 0 and result.part.read_bytes() == image


def _qcow2_served(server: ImageServer, tmp_path: Path) -> tuple[bytes, bytes]:
    raw = raw_bytes(16 * MiB)
    (tmp_path / "src.raw").write_bytes(raw)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "src.raw", tmp_path / "src.qcow2")
    data = (tmp_path / "src.qcow2").read_bytes()
    server.files["cloud.qcow2"] = data
    (tmp_path / "src.raw").unlink()
    (tmp_path / "src.qcow2").unlink()
    return raw, data


def test_fetch_to_raw(server: ImageServer, tmp_path: Path) -> None:
    raw, data = _qcow2_served(server, tmp_path)
    phases: list[str] = []
    job = FetchJob(FetchRequest(server.url("cloud.qcow2"), tmp_path, checksum=sha256(data)), QemuImg(),
                   on_progress=lambda p: phases.append(p.phase))  # fmt: skip
    result = job.run()
    assert result.destination == tmp_path / "cloud.raw"
    assert result.destination.read_bytes() == raw
    assert (result.format, result.source_format) == ("raw", "qcow2")
    assert leftovers(tmp_path) == ["cloud.raw"]
    order = list(dict.fromkeys(phases))
    assert order == ["downloading", "verifying", "inspecting", "converting", "verifying output"]


def test_fetch_to_raw_inspects_the_download_once(server: ImageServer, tmp_path: Path) -> None:
    """Issue 17: the conversion is planned from the pipeline's report of the verified
    download, so qemu-img reads the `.part` once for info (not again for a second plan)."""
    _raw, data = _qcow2_served(server, tmp_path)
    qemu = RecordingQemuImg()
    FetchJob(FetchRequest(server.url("cloud.qcow2"), tmp_path, checksum=sha256(data)), qemu).run()
    assert qemu.calls_opening(tmp_path / "cloud.raw.part") == {"info": 1, "map": 1, "convert": 1}
    assert (tmp_path / "cloud.raw").exists()


def test_fetch_keep_format_and_existing_destination(server: ImageServer, tmp_path: Path) -> None:
    _raw, data = _qcow2_served(server, tmp_path)
    request = FetchRequest(
        server.url("cloud.qcow2"), tmp_path / "kept.qcow2", checksum=sha256(data), to_raw=False
    )
    result = FetchJob(request, QemuImg()).run()
    assert result.destination.read_bytes() == data and result.conversion is None
    with pytest.raises(DestinationExists):
        FetchJob(request, QemuImg()).run()
    assert server.hits["/files/cloud.qcow2"] == 1, "an existing destination is refused before downloading"


def test_killed_cli_resumes_to_an_identical_file(server: ImageServer, tmp_path: Path) -> None:
    data = raw_bytes(24 * MiB)
    server.files["big.img"] = data
    url = server.url("big.img", "slow")
    cmd = [sys.executable, "-m", "diskscope", "fetch", url, str(tmp_path / "big.img"), "--keep-format",
           "--checksum", sha256(data), "--json", "-q"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    part = tmp_path / "big.img.part"
    deadline = time.monotonic() + 60  # only to stop a hang
    while (not part.exists() or part.stat().st_size < 4 * MiB) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["resumed_from"] == kept
    assert (tmp_path / "big.img").read_bytes() == data
    assert leftovers(tmp_path) == ["big.img"]


def test_cli_fetch_errors_are_one_sentence(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "diskscope", "fetch", server.url("disk.img"), str(tmp_path / "x"),
         "--checksum", "sha256:" + "0" * 64, "--token", "s3cret-token"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "s3cret" not in done.stderr
    assert leftovers(tmp_path) == []


def test_real_disk_full_during_a_download_is_one_sentence(
    server: ImageServer, small_filesystem: Path
) -> None:
    """The free-space probe is told there is room, so the writes hit a real ENOSPC."""
    data = raw_bytes(16 * MiB)
    server.files["big.img"] = data
    expect = Expectation(checksums=(parse_checksum(sha256(data)),))
    download = Download(DownloadRequest(server.url("big.img"), small_filesystem / "big.img", HttpOptions(), expect),
                        free_space=lambda _folder: 1 << 40)  # fmt: skip
    with pytest.raises(NotEnoughSpaceForDownload, match="filled up"):
        download.run()
    assert list(small_filesystem.iterdir()) == []
