"""Backing chains, walked one gated layer at a time."""

from __future__ import annotations

from pathlib import Path

from catalogue import vmdk_flat_absolute
from diskscope.core.chain import LayerStatus, chain_is_sound, walk_backing_chain
from imagekit import RecordingQemuImg, create, qemu_img


def overlay(path: Path, backing: str, fmt: str = "qcow2") -> Path:
    qemu_img("create", "-q", "-f", "qcow2", "-b", backing, "-F", fmt, "-u", path, "16M")
    return path


def statuses(path: Path, qemu: RecordingQemuImg | None = None) -> list[tuple[str | None, str]]:
    layers = walk_backing_chain(path, qemu or RecordingQemuImg())
    return [(layer.link, layer.status.value) for layer in layers]


def test_relative_chain_of_three(tmp_path: Path) -> None:
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    overlay(tmp_path / "mid.qcow2", "base.qcow2")
    top = overlay(tmp_path / "top.qcow2", "mid.qcow2")
    layers = walk_backing_chain(top, RecordingQemuImg())
    assert [(la.link, la.status) for la in layers] == [
        (None, LayerStatus.OK),
        ("mid.qcow2", LayerStatus.OK),
        ("base.qcow2", LayerStatus.OK),
    ]
    assert [la.link_kind for la in layers] == ["top", "relative", "relative"]
    assert chain_is_sound(layers)
    assert layers[2].info is not None and layers[2].info.virtual_size == 16 << 20


def test_qemu_never_follows_the_chain_itself(tmp_path: Path) -> None:
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    top = overlay(tmp_path / "top.qcow2", "base.qcow2")
    qemu = RecordingQemuImg()
    walk_backing_chain(top, qemu)
    assert all("--backing-chain" not in call for call in qemu.calls)
    assert all("-f" in call for call in qemu.calls)


def test_missing_layer(tmp_path: Path) -> None:
    top = overlay(tmp_path / "top.qcow2", "gone.qcow2")
    assert statuses(top) == [(None, "ok"), ("gone.qcow2", "missing")]


def test_loop(tmp_path: Path) -> None:
    overlay(tmp_path / "a.qcow2", "b.qcow2")
    overlay(tmp_path / "b.qcow2", "a.qcow2")
    assert statuses(tmp_path / "a.qcow2") == [(None, "ok"), ("b.qcow2", "ok"), ("a.qcow2", "loop")]


def test_link_leaving_the_folder_is_not_opened(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    outside = create(tmp_path / "elsewhere" / "base.qcow2", "qcow2", "16M")
    (tmp_path / "here").mkdir()
    top = overlay(tmp_path / "here" / "top.qcow2", str(outside))
    qemu = RecordingQemuImg()
    assert statuses(top, qemu) == [(None, "ok"), (str(outside), "outside")]
    assert not qemu.opened(outside)


def test_unsafe_layer_stops_the_walk_before_qemu_opens_it(tmp_path: Path) -> None:
    flat = vmdk_flat_absolute(tmp_path)
    top = overlay(tmp_path / "top.qcow2", flat.name, "vmdk")
    qemu = RecordingQemuImg()
    assert statuses(top, qemu) == [(None, "ok"), (flat.name, "refused")]
    assert not qemu.opened(flat)


def test_protocol_links_are_refused(tmp_path: Path) -> None:
    top = overlay(tmp_path / "top.qcow2", "nbd:127.0.0.1:10809", "raw")
    assert statuses(top) == [(None, "ok"), ("nbd:127.0.0.1:10809", "refused")]
