"""A raw image lands sparse: the download skips its all-zero blocks (holes in the `.part`),
and fetch-to-raw of a raw source places that very file, with no second pass. Breaks in the
middle of the zeros resume to identical bytes. A real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import DownloadFailed, HttpOptions
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.fetch.verification import Expectation
from diskscope.core.fetch.writing import all_zero
from diskscope.core.qemu.qemu_img import QemuImg
from httpserver import ImageServer
from imagekit import MiB

SIZE = 64 * MiB


def mostly_zeros() -> bytes:
    """A 64 MiB raw disk: 1 MiB of data, 62 MiB of zeros, 1 MiB of data."""
    data = bytearray(SIZE)
    data[:MiB] = bytes(range(256)) * (MiB // 256)
    data[-MiB:] = bytes(reversed(range(256))) * (MiB // 256)
    return bytes(data)


def allocated(path: Path) -> int:
    return os.stat(path).st_blocks * 512


def checksum(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def test_fetch_to_raw_of_a_raw_image_is_sparse_and_needs_no_conversion(
    server: ImageServer, tmp_path: Path
) -> None:
    data = server.files["disk.raw"] = mostly_zeros()
    request = FetchRequest(server.url("disk.raw"), tmp_path / "disk.raw", checksum=checksum(data))
    result = FetchJob(request, QemuImg()).run()
    assert result.conversion is None and result.format == "raw"
    assert result.destination.read_bytes() == data
    assert allocated(result.destination) <= 4 * MiB, "the 62 MiB of zeros must stay holes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk.raw"]


@pytest.mark.parametrize("fault", ["cut", "norange"])
def test_a_break_in_the_zeros_resumes_to_identical_bytes(
    server: ImageServer, tmp_path: Path, fault: str
) -> None:
    """The connection breaks half way, inside the zeros: the `.part` is shorter than what
    arrived (its zero tail was never written), and the next attempt still ends identical."""
    data = server.files["disk.raw"] = mostly_zeros()
    expect = Expectation(checksums=(parse_checksum(checksum(data)),))
    request = DownloadRequest(server.url("disk.raw", fault), tmp_path / "d.raw",
                              HttpOptions(read_timeout=5), expect, backoff=0.01)  # fmt: skip
    result = Download(request).run()
    assert result.part.read_bytes() == data and result.size == SIZE
    assert allocated(result.part) <= 4 * MiB


def test_a_new_run_resumes_a_part_that_ends_in_a_hole(server: ImageServer, tmp_path: Path) -> None:
    data = server.files["disk.raw"] = mostly_zeros()
    expect = Expectation(checksums=(parse_checksum(checksum(data)),))

    def request(retries: int) -> DownloadRequest:
        return DownloadRequest(server.url("disk.raw", "cut"), tmp_path / "d.raw",
                               HttpOptions(read_timeout=5), expect, retries=retries, backoff=0.01)  # fmt: skip

    with pytest.raises(DownloadFailed, match="resume"):
        Download(request(0)).run()
    kept = os.path.getsize(tmp_path / "d.raw.part")
    assert MiB <= kept < SIZE // 2  # what arrived after the first MiB was zeros, never written
    result = Download(request(3)).run()
    assert result.resumed_from == kept and result.part.read_bytes() == data


def test_all_zero() -> None:
    assert all_zero(bytes(MiB)) and all_zero(bytes(3)) and all_zero(b"")
    assert not all_zero(bytes(MiB - 1) + b"\x01")
    assert not all_zero(b"\x00" + b"\x01" + b"\x00")
