"""The JSON and the human-text parsers of `qemu-img info`, on real outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diskscope.core.qemu.image_info import ImageInfo, parse_info_json
from diskscope.core.qemu.info_text import parse_info_text, parse_size
from imagekit import create, qemu_img

AWKWARD_NAMES = ["plain", "with spaces  twice", "ünïcødé ✓", "tab\there", "0 B 2020-01-01"]


def _images(tmp_path: Path) -> list[tuple[Path, str]]:
    base = create(tmp_path / "base.qcow2", "qcow2", "64M")
    for name in AWKWARD_NAMES:
        qemu_img("snapshot", "-c", name, base)
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    qemu_img("bitmap", "--add", top, "bm0")
    luks = tmp_path / "disk.luks"
    for _ in range(10):  # qemu's key-derivation benchmark is flaky on busy machines
        try:
            qemu_img("create", "-q", "-f", "luks", "--object", "secret,id=s0,data=x",
                     "-o", "key-secret=s0,iter-time=100", luks, "4M")  # fmt: skip
            break
        except AssertionError:
            continue
    return [
        (base, "qcow2"),
        (top, "qcow2"),
        (create(tmp_path / "df.qcow2", "qcow2", "8M", f"data_file={tmp_path / 'd.raw'}"), "qcow2"),
        (create(tmp_path / "a.vmdk", "vmdk", "8M"), "vmdk"),
        (create(tmp_path / "s.vmdk", "vmdk", "8M", "subformat=streamOptimized"), "vmdk"),
        (create(tmp_path / "x.vhdx", "vhdx", "8M"), "vhdx"),
        (create(tmp_path / "r.raw", "raw", "8M"), "raw"),
        (create(tmp_path / "v.vdi", "vdi", "8M"), "vdi"),
        (luks, "luks"),
    ]


def _both(path: Path, fmt: str) -> tuple[ImageInfo, ImageInfo]:
    from_json = parse_info_json(json.loads(qemu_img("info", "-U", "-f", fmt, "--output=json", path)))
    from_text = parse_info_text(qemu_img("info", "-U", "-f", fmt, path))
    return from_json, from_text


def test_json_and_text_agree_field_by_field(tmp_path: Path) -> None:
    for path, fmt in _images(tmp_path):
        j, t = _both(path, fmt)
        for field in ImageInfo.__dataclass_fields__:
            a, b = getattr(j, field), getattr(t, field)
            if field == "raw":
                continue  # the input itself: JSON as printed, or the text's rebuilt shape
            if field == "actual_size":
                # The text rounds the size on disk to three significant figures.
                assert b == pytest.approx(a, rel=0.01), path
            elif field == "snapshots":
                assert [s.name for s in a] == [s.name for s in b]
                assert [(s.id, s.vm_clock_nsec, s.date_sec) for s in a] == [
                    (s.id, s.vm_clock_nsec, s.date_sec) for s in b
                ]
            else:
                assert a == b, (path, field)


def test_snapshot_names_are_kept_exactly(tmp_path: Path) -> None:
    base = _images(tmp_path)[0][0]
    j, t = _both(base, "qcow2")
    assert [s.name for s in j.snapshots] == AWKWARD_NAMES
    assert [s.name for s in t.snapshots] == AWKWARD_NAMES


def test_fields_of_a_real_chain_and_data_file(tmp_path: Path) -> None:
    images = dict((p.name, p) for p, _ in _images(tmp_path))
    top, _ = _both(images["top.qcow2"], "qcow2")
    assert top.backing_filename == "base.qcow2"
    assert top.backing_format == "qcow2"
    assert top.qcow2 is not None and [b.name for b in top.qcow2.bitmaps] == ["bm0"]
    df, _ = _both(images["df.qcow2"], "qcow2")
    assert df.data_file == str(tmp_path / "d.raw")
    vmdk, _ = _both(images["s.vmdk"], "vmdk")
    assert vmdk.vmdk is not None and vmdk.vmdk.create_type == "streamOptimized"
    luks, text = _both(images["disk.luks"], "luks")
    assert luks.encrypted and text.encrypted
    assert luks.luks is not None and luks.luks.active_slots == (0,)


def test_unknown_keys_are_kept() -> None:
    info = parse_info_json({"filename": "x", "format": "raw", "virtual-size": 1, "future-key": [1, 2]})
    assert info.extra == {"future-key": [1, 2]}


def test_qemu_8_children_are_parsed() -> None:
    """qemu 8.0 added child nodes; this machine has 7.x, so the shape is written out."""
    data = {
        "filename": "a.qcow2", "format": "qcow2", "virtual-size": 1048576,
        "children": [{"name": "file", "info": {
            "filename": "a.qcow2", "format": "file", "virtual-size": 197120,
            "format-specific": {"type": "file", "data": {}},
        }}],
    }  # fmt: skip
    text = """image: a.qcow2
file format: qcow2
virtual size: 1 MiB (1048576 bytes)
disk size: 196 KiB
Child node '/file':
    filename: a.qcow2
    protocol type: file
    file length: 193 KiB (197120 bytes)
    disk size: 196 KiB
"""
    from_json = parse_info_json(data)
    from_text = parse_info_text(text)
    assert from_json.children[0].name == from_text.children[0].name == "file"
    assert from_text.children[0].info.filename == "a.qcow2"
    assert from_json.children[0].info.format == from_text.children[0].info.format == "file"
    assert from_json.children[0].info.virtual_size == from_text.children[0].info.virtual_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("64 MiB (67108864 bytes)", 67108864),
        ("1.5 GiB", 1610612736),
        ("1.5G", 1610612736),
        ("0 B", 0),
        ("512", 512),
        ("204 KiB", 204 * 1024),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello world",
        "image: x\nvirtual size: 1 MiB (1048576 bytes)\n",
        "image: x\nfile format: raw\nvirtual size: lots\n",
        "image: x\nfile format: raw\nvirtual size: 1 B\n    stray indented line\n",
        "image: x\nfile format: raw\nvirtual size: 1 B\nSnapshot list:\nnot a row\n",
        "\x00\xff" * 100,
    ],
)
def test_text_garbage_is_a_value_error(garbage: str) -> None:
    with pytest.raises(ValueError):
        parse_info_text(garbage)


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "text",
        {"filename": "x"},
        {"filename": "x", "format": "raw", "virtual-size": "big"},
        {"filename": "x", "format": "raw", "virtual-size": True},
        {"filename": "x", "format": "raw", "virtual-size": -1},
        {"filename": "x", "format": "raw", "virtual-size": 1, "snapshots": {}},
        {"filename": "x", "format": "raw", "virtual-size": 1, "snapshots": [{"id": "1"}]},
        {
            "filename": "x",
            "format": "qcow2",
            "virtual-size": 1,
            "format-specific": {"type": "qcow2", "data": {"compat": 1.1}},
        },
    ],
)
def test_json_garbage_is_a_value_error(data: object) -> None:
    with pytest.raises(ValueError):
        parse_info_json(data)
