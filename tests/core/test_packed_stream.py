"""The download's inspector on compressed streams: the same verdict on the image inside as
`info` gives from the file, whatever the chunk sizes, and bounded work on a bomb."""

from __future__ import annotations

from pathlib import Path

import pytest
from diskscope.core.errors import DamagedCompressedFile
from diskscope.core.packed.probe import PROBE_LIMIT, probe_packed
from diskscope.core.packed.stream_inspect import PackedStreamInspector
from imagekit import MiB, create, raw_file
from packkit import compress, compress_zeros


def streamed(path: Path, chunk: int) -> PackedStreamInspector:
    inspector = PackedStreamInspector()
    data = path.read_bytes()
    for start in range(0, len(data), chunk):
        inspector.feed(data[start : start + chunk])
    return inspector


@pytest.mark.parametrize("packing", ["xz", "gzip", "bzip2", "zstd", "zip"])
@pytest.mark.parametrize("chunk", [7, 4096, 1 << 20])
def test_the_stream_verdict_is_the_files(packing: str, chunk: int, tmp_path: Path) -> None:
    packed = compress(create(tmp_path / "disk.qcow2", "qcow2", "1G"), packing)
    inspector = streamed(packed, chunk)
    probed = probe_packed(packed)
    assert probed is not None
    result = inspector.finish()
    assert inspector.packing == packing
    assert (result.format, result.virtual_size, result.safe) == ("qcow2", 1 << 30, True)
    assert (result.format, result.virtual_size, result.violations) == (
        probed[1].format, probed[1].virtual_size, probed[1].violations,
    )  # fmt: skip


@pytest.mark.parametrize("packing", ["xz", "zstd", "zip"])
def test_a_large_raw_is_judged_early_on_its_start(packing: str, tmp_path: Path) -> None:
    packed = compress(raw_file(tmp_path / "disk.raw", 24 * MiB), packing)
    inspector = streamed(packed, 65536)
    early = inspector.early_result()
    assert early is not None and early.safe and early.format == "raw"
    assert inspector.inflated < 8 * MiB  # decompressing stopped once the headers were judged


def test_a_plain_image_is_judged_as_before(tmp_path: Path) -> None:
    image = create(tmp_path / "disk.qcow2", "qcow2", "64M")
    inspector = streamed(image, 1000)
    assert inspector.packing is None and inspector.finish().format == "qcow2"


def test_a_bomb_costs_bounded_work_and_memory(tmp_path: Path) -> None:
    bomb = compress_zeros("2G", "zstd", tmp_path / "zeros.zst")
    inspector = streamed(bomb, 1 << 20)
    assert inspector.inflated <= PROBE_LIMIT
    assert inspector.buffered < 8 * MiB
    assert inspector.finish().format == "raw"


def test_damaged_stream_is_one_sentence(tmp_path: Path) -> None:
    packed = compress(raw_file(tmp_path / "disk.raw", 4 * MiB), "gzip")
    data = bytearray(packed.read_bytes())
    data[2000:2100] = bytes(100)
    inspector = PackedStreamInspector()
    with pytest.raises(DamagedCompressedFile, match="not a valid gzip stream"):
        inspector.feed(bytes(data))
