"""Compressed images: told by their magic, inspected from the first MiB of the stream,
with the sizes the formats record; the gate still refuses them everywhere qemu-img would
open the compressed file itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.errors import DamagedCompressedFile, UnsupportedArchive
from diskscope.core.packed.magic import Packing
from diskscope.core.packed.probe import PROBE_LIMIT, probe_packed
from imagekit import MiB, create, raw_file
from packkit import compress, compress_zeros

PACKINGS = ("xz", "gzip", "bzip2", "zstd", "zip")


@pytest.mark.parametrize("packing", PACKINGS)
def test_info_inspects_the_image_inside_by_its_magic(packing: str, tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "64M")
    packed = compress(image, packing)
    anonymous = packed.rename(tmp_path / "download")  # no name to go by: the magic says it
    done = run("info", "--json", anonymous)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (data["format"], data["virtual_size"], data["safe"]) == ("qcow2", 64 * MiB, True)
    assert data["compressed"]["compression"] == packing
    assert data["compressed"]["compressed_size"] == anonymous.stat().st_size
    assert data["compressed"]["uncompressed_size"] == image.stat().st_size  # the whole stream was read


def test_info_text_names_compression_and_what_was_read(tmp_path: Path) -> None:
    packed = compress(create(tmp_path / "disk.qcow2", "qcow2", "1G"), "zstd")
    done = run("info", packed)
    assert done.returncode == 0, done.stderr
    assert "compressed    zstd, " in done.stdout
    assert "format        qcow2" in done.stdout
    assert "SAFE by its headers" in done.stdout


def test_raw_xz_reports_the_size_its_index_records_and_reads_only_the_start(tmp_path: Path) -> None:
    image = raw_file(tmp_path / "disk.raw", 96 * MiB)
    packed = compress(image, "xz")
    probed = probe_packed(packed)
    assert probed is not None
    facts, inner = probed
    assert facts.packing == Packing.XZ and not facts.complete
    assert facts.uncompressed_size == 96 * MiB  # from the index at the end, not by inflating
    assert facts.inflated < 8 * MiB
    assert (inner.format, inner.virtual_size, inner.safe) == ("raw", 96 * MiB, True)


def test_concatenated_xz_streams_record_their_sum(tmp_path: Path) -> None:
    one = compress(raw_file(tmp_path / "a.raw", 3 * MiB), "xz")
    two = compress(raw_file(tmp_path / "b.raw", 5 * MiB), "xz")
    both = tmp_path / "both.raw.xz"
    both.write_bytes(one.read_bytes() + b"\0" * 8 + two.read_bytes())  # with stream padding
    done = run("info", "--json", both)
    data = json.loads(done.stdout)
    assert data["compressed"]["uncompressed_size"] == 8 * MiB
    assert data["virtual_size"] == 8 * MiB


def test_zstd_records_the_content_size_gzip_does_not(tmp_path: Path) -> None:
    image = raw_file(tmp_path / "disk.raw", 48 * MiB)
    assert probe_packed(compress(image, "zstd"))[0].uncompressed_size == 48 * MiB  # type: ignore[index]
    assert probe_packed(compress(image, "gzip"))[0].uncompressed_size is None  # type: ignore[index]
    done = run("info", compress(image, "bzip2"))
    assert "uncompressed  not recorded by bzip2" in done.stdout


def test_a_raw_disk_in_two_zstd_frames_is_not_the_size_of_its_first(tmp_path: Path) -> None:
    """Each frame records its own content size (zstd of a file does); the disk is both frames.
    The first frame's 1 MiB is not the virtual size, and passes no --max-virtual-size."""
    image = raw_file(tmp_path / "disk.raw", 32 * MiB)
    data = image.read_bytes()
    frames = b""
    for n, piece in enumerate((data[:MiB], data[MiB:])):
        part = tmp_path / f"frame{n}"
        part.write_bytes(piece)
        frames += subprocess.run(["zstd", "-q", "-c", str(part)], capture_output=True, check=True).stdout
    packed = tmp_path / "disk.raw.zst"
    packed.write_bytes(frames)
    facts, inner = probe_packed(packed)  # type: ignore[misc]
    assert facts.uncompressed_size == MiB  # what the first frame records, shown as such
    assert inner.virtual_size is None
    done = run("info", "--max-virtual-size", "4M", packed)
    assert "virtual size  1.0 MiB" not in done.stdout
    assert "virtual size  unknown" in done.stdout


def test_the_image_inside_meets_the_same_gate(tmp_path: Path) -> None:
    base = create(tmp_path / "base.qcow2", "qcow2", "64M")
    overlay = create(tmp_path / "overlay.qcow2", "qcow2", "64M", f"backing_file={base}", "backing_fmt=qcow2")
    done = run("info", compress(overlay, "gzip"))
    assert done.returncode == 1
    assert "REFUSED" in done.stdout and "backing file" in done.stdout


def test_inner_extension_is_a_claim_checked_against_the_content(tmp_path: Path) -> None:
    image = raw_file(tmp_path / "disk.raw", 4 * MiB)
    liar = compress(image, "xz", tmp_path / "disk.qcow2.xz")
    done = run("info", "--json", liar)
    assert done.returncode == 1
    assert [v["code"] for v in json.loads(done.stdout)["violations"]] == ["format_mismatch"]


def test_policy_applies_to_the_image_inside(tmp_path: Path) -> None:
    packed = compress(create(tmp_path / "disk.qcow2", "qcow2", "10G"), "zstd")
    done = run("info", "--max-virtual-size", "1G", packed)
    assert done.returncode == 1
    assert "larger than the" in done.stdout


def test_other_commands_still_refuse_the_compressed_file(tmp_path: Path) -> None:
    packed = compress(create(tmp_path / "disk.qcow2", "qcow2", "64M"), "xz")
    for command in ("check", "map"):
        done = run(command, packed)
        assert done.returncode == 1
        assert "xz-compressed file, not a disk image; decompress it first" in done.stderr


def test_damaged_stream_is_one_sentence(tmp_path: Path) -> None:
    packed = compress(raw_file(tmp_path / "disk.raw", 4 * MiB), "xz")
    cut = tmp_path / "cut.raw.xz"
    cut.write_bytes(packed.read_bytes()[: packed.stat().st_size // 2])
    with pytest.raises(DamagedCompressedFile):
        probe_packed(cut)
    done = run("info", cut)
    assert done.returncode == 2
    assert_one_sentence(done.stderr)
    assert "is not a valid xz file" in done.stderr


def test_zip_with_two_files_is_refused_in_one_sentence(tmp_path: Path) -> None:
    a = create(tmp_path / "a.qcow2", "qcow2", "1M")
    b = create(tmp_path / "b.qcow2", "qcow2", "1M")
    archive = tmp_path / "two.zip"
    subprocess.run(["zip", "-q", "-j", str(archive), str(a), str(b)], check=True)
    with pytest.raises(UnsupportedArchive):
        probe_packed(archive)
    done = run("info", archive)
    assert done.returncode == 2
    assert "holds 2 files" in done.stderr


def test_a_zero_bomb_is_inspected_in_bounded_work(tmp_path: Path) -> None:
    """1 GiB of zeros in 40 KiB of zstd: info reads only the start of it."""
    bomb = compress_zeros("1G", "zstd", tmp_path / "zeros.zst")
    facts, _inner = probe_packed(bomb)  # type: ignore[misc]
    assert facts.inflated <= 4 * MiB < PROBE_LIMIT
    assert facts.uncompressed_size is None or facts.uncompressed_size == 1 << 30


def test_tar_is_still_no_compressed_image(tmp_path: Path) -> None:
    create(tmp_path / "disk.qcow2", "qcow2", "1M")
    archive = tmp_path / "a.tar"
    shutil.make_archive(str(archive.with_suffix("")), "tar", tmp_path, "disk.qcow2")
    assert probe_packed(archive) is None
    assert run("info", archive).returncode == 1
