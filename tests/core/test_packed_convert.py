"""`convert` of a compressed source: the image inside meets the gate by its headers, is
inflated into a private folder (qemu-img 7.2 reads no pipe), bounded by what it declares,
and converted and verified like any image; nothing is left behind on any failure."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from clikit import assert_one_sentence, run
from diskscope.core.convert.job import ConvertRequest
from diskscope.core.errors import Cancelled, DecompressionBomb, SourceChanged, UnsafeImage
from diskscope.core.packed.convert import PackedConvertJob
from diskscope.core.policy import InspectionPolicy
from diskscope.core.progress import Progress
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import MiB, create, qemu_img, raw_file, write_pattern
from packkit import compress, compress_zeros

PACKINGS = ("xz", "gzip", "bzip2", "zstd", "zip")


@pytest.mark.parametrize("packing", PACKINGS)
def test_a_compressed_qcow2_converts_to_the_same_disk(packing: str, tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "64M")
    write_pattern(image, "qcow2", 5 * MiB, MiB, 0x5A)
    packed = compress(image, packing)
    out = tmp_path / "out"
    out.mkdir()
    done = run(
        "convert", packed, out / "disk.raw", "-O", "raw", "--verify=full"
    )  # compare is not the default
    assert done.returncode == 0, done.stderr
    assert f"verified: {packing} stream: {image.stat().st_size:,} bytes decompressed" in done.stdout
    assert "qemu-img compare: identical to the source" in done.stdout
    qemu_img("compare", "-f", "qcow2", "-F", "raw", image, out / "disk.raw")
    assert [p.name for p in out.iterdir()] == ["disk.raw"]  # no private folder left


def test_a_raw_xz_converts_and_its_zeros_stay_sparse(tmp_path: Path) -> None:
    image = raw_file(tmp_path / "disk.raw", 32 * MiB)
    done = run("convert", compress(image, "xz"), tmp_path / "disk.qcow2", "-O", "qcow2", "--verify")
    assert done.returncode == 0, done.stderr
    assert "within the size the xz file records" in done.stdout
    qemu_img("compare", "-f", "raw", "-F", "qcow2", image, tmp_path / "disk.qcow2")


def test_a_bomb_past_the_declared_virtual_size_is_stopped(tmp_path: Path) -> None:
    """A 1 MiB qcow2 header followed by 256 MiB of zeros, xz'd: the stream may grow to the
    declared size plus room for metadata, and no further."""
    header = create(tmp_path / "small.qcow2", "qcow2", "1M")
    zeros = compress_zeros("256M", "xz", tmp_path / "zeros.xz")
    bomb = tmp_path / "bomb.qcow2.xz"
    bomb.write_bytes(compress(header, "xz").read_bytes() + zeros.read_bytes())  # two xz streams
    out = tmp_path / "out"
    out.mkdir()
    done = run("convert", bomb, out / "disk.raw", "-O", "raw")
    assert done.returncode == 1
    assert_one_sentence(done.stderr)
    assert "inflates past 65.1 MiB" in done.stderr
    assert "more than the size the qcow2 image inside declares (1.0 MiB virtual)" in done.stderr
    assert list(out.iterdir()) == []
    with pytest.raises(DecompressionBomb):
        PackedConvertJob(ConvertRequest(bomb, out / "again.raw", "raw"), QemuImg()).run()


def test_a_refused_image_inside_is_never_inflated(tmp_path: Path) -> None:
    base = create(tmp_path / "base.qcow2", "qcow2", "64M")
    overlay = create(tmp_path / "overlay.qcow2", "qcow2", "64M", f"backing_file={base}", "backing_fmt=qcow2")
    packed = compress(overlay, "zstd")
    seen: list[str] = []
    with pytest.raises(Exception, match="backing file"):
        PackedConvertJob(ConvertRequest(packed, tmp_path / "out.raw", "raw"), QemuImg(),
                         on_progress=lambda p: seen.append(p.phase)).run()  # fmt: skip
    assert seen == []  # refused on the headers: not a byte was decompressed to disk
    assert not (tmp_path / "out.raw").exists()


def test_cancel_while_decompressing_leaves_nothing(tmp_path: Path) -> None:
    packed = compress_zeros("2G", "zstd", tmp_path / "zeros.raw.zst")
    out = tmp_path / "out"
    out.mkdir()
    cancel = threading.Event()

    def on_progress(p: Progress) -> None:
        if p.phase == "decompressing" and p.done > 0:
            cancel.set()

    request = ConvertRequest(packed, out / "disk.qcow2", "qcow2")
    with pytest.raises(Cancelled):
        PackedConvertJob(request, QemuImg(), on_progress=on_progress, cancel=cancel).run()
    assert list(out.iterdir()) == []


def test_memory_stays_flat_while_a_large_image_inflates(tmp_path: Path) -> None:
    """4 GiB of zeros in a zstd stream that does not record its size, converted in a real
    process: its peak RSS (and qemu-img's) stays far below the image."""
    packed = compress_zeros("4G", "zstd", tmp_path / "zeros.raw.zst")
    # Measured from a small parent: a child forked from this (large) test process would
    # count the parent's pages in its own peak before it execs.
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")  # fmt: skip
    argv = [sys.executable, "-c", probe, sys.executable, "-m", "diskscope", "convert", str(packed),
            str(tmp_path / "disk.qcow2"), "-O", "qcow2"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "disk.qcow2").exists()
    assert int(done.stdout) < 150 * 1024  # KiB: the conversion and its qemu-img, at their peak


def test_a_source_changed_while_it_inflates_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    """The compressed file is changed (for real) while it is being decompressed: what was
    inflated may no longer be what was judged, so it is thrown away."""
    packed = compress_zeros("1G", "zstd", tmp_path / "zeros.raw.zst")
    out = tmp_path / "out"
    out.mkdir()

    def on_progress(p: Progress) -> None:
        if p.phase == "decompressing" and p.done > 0:
            os.chmod(packed, 0o600)  # like a write or a rename, a chmod changes st_ctime

    request = ConvertRequest(packed, out / "disk.qcow2", "qcow2")
    with pytest.raises(SourceChanged, match="no longer the file that was checked"):
        PackedConvertJob(request, QemuImg(), on_progress=on_progress).run()
    assert list(out.iterdir()) == []


def test_a_verified_download_must_still_be_the_file_converted(tmp_path: Path) -> None:
    packed = compress(create(tmp_path / "disk.qcow2", "qcow2", "16M"), "gzip")
    st = packed.stat()
    request = ConvertRequest(packed, tmp_path / "disk.raw", "raw", expected_source=(st.st_dev, st.st_ino, 1))
    with pytest.raises(SourceChanged, match="no longer the file that was verified"):
        PackedConvertJob(request, QemuImg()).run()
    assert not (tmp_path / "disk.raw").exists()


@pytest.mark.parametrize("packing", ["xz", "zip"])
def test_a_raw_image_whose_archive_records_more_than_the_policy_allows_is_never_inflated(
    packing: str, tmp_path: Path
) -> None:
    """xz and zip record the size a raw disk inflates to: one larger than --max-virtual-size
    is refused on that record, before a byte is decompressed."""
    packed = compress(raw_file(tmp_path / "disk.raw", 32 * MiB), packing)
    out = tmp_path / "out"
    out.mkdir()
    seen: list[str] = []
    policy = InspectionPolicy(max_virtual_size=4 * MiB)
    request = ConvertRequest(packed, out / "disk.qcow2", "qcow2", policy=policy)
    with pytest.raises(UnsafeImage, match=r"larger than the 4\.0 MiB"):
        PackedConvertJob(request, QemuImg(), on_progress=lambda p: seen.append(p.phase)).run()
    assert "decompressing" not in seen
    assert list(out.iterdir()) == []
