"""Backing chains, walked one gated layer at a time."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from catalogue import vmdk_flat_absolute
from diskscope.core.chain import LayerStatus, chain_is_sound, walk_backing_chain
from diskscope.core.report.details import gather_details
from imagekit import MiB, RecordingQemuImg, create, patch, qemu_img, vmdk_descriptor, write_pattern

BACKING_FORMAT_EXTENSION = 0xE2792ACA


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


# -- `diskscope convert --allow-owned-backing` against links that lead out of the folder ------
#
# Each attack below converted before the walker followed links as qemu does: the test runs the
# real CLI under strace and asserts a one-sentence refusal, no output, and that no process
# (Diskscope, qemu-img) ever opened the secret that lies outside the top image's folder.

SECRET = b"TOP-SECRET-HOST-DATA-"


def write_secret(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((SECRET * (MiB // len(SECRET) + 1))[:MiB])
    return path


def secret_vmdk(path: Path) -> Path:
    """A VMDK whose guest data is the secret (written by qemu-io)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = write_secret(path.with_suffix(".raw"))
    qemu_img("convert", "-q", "-f", "raw", "-O", "vmdk", raw, path)
    raw.unlink()
    return path


def strip_backing_format(path: Path) -> None:
    """qemu-img 7.2 refuses to write an overlay without a backing format (older ones did
    not); end the header extensions where the backing-format extension begins."""
    data = path.read_bytes()[:65536]
    at = data.find(struct.pack(">I", BACKING_FORMAT_EXTENSION))
    assert at > 0
    patch(path, at, b"\0" * 8)


def convert_traced(tmp_path: Path, top: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """`diskscope convert --allow-owned-backing` as typed, under `strace -f -y` (every path
    a process opened, the real one beside the name it used)."""
    log = tmp_path / "strace.log"
    out = tmp_path / "dest" / "flat.raw"
    out.parent.mkdir(exist_ok=True)
    done = subprocess.run(
        ["strace", "-f", "-y", "-qq", "-e", "trace=%file", "-o", str(log),
         sys.executable, "-m", "diskscope", "convert", "--allow-owned-backing", "-q",
         "-O", "raw", str(top), str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return done, log.read_text()


def assert_refused_unread(done: subprocess.CompletedProcess[str], trace: str, secret: Path) -> None:
    assert done.returncode == 1, done.stdout + done.stderr  # refused: 1, as in every command
    assert list((secret.parent.parent / "dest").iterdir()) == [], "an output was left behind"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("diskscope: "), done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET.decode() not in done.stderr
    assert opened(trace, secret) == [], "the secret was opened"


def opened(trace: str, path: Path) -> list[str]:
    """The trace lines in which any process opened `path`, by whatever name."""
    real = os.path.realpath(path)
    return [line for line in trace.splitlines() if "open" in line and f"<{real}>" in line]


def test_attack_backing_without_format_is_refused(tmp_path: Path) -> None:
    """(1) A VMDK descriptor our inspector takes for raw (a control byte in a comment, which
    qemu's probe skips), named with no backing format: qemu would probe it and follow its
    extent to the secret."""
    secret = write_secret(tmp_path / "outside" / "secret.raw")
    folder = tmp_path / "folder"
    folder.mkdir()
    extent = f'RW 2048 FLAT "{os.path.relpath(secret, folder)}" 0'
    descriptor = vmdk_descriptor("monolithicFlat", [extent], comment="# \x01")
    (folder / "base.img").write_bytes(descriptor)
    top = overlay(folder / "top.qcow2", "base.img", "raw")
    strip_backing_format(top)
    assert "backing file format" not in qemu_img("info", top)
    done, trace = convert_traced(tmp_path, top)
    assert_refused_unread(done, trace, secret)
    assert "format is not recorded" in done.stderr


def test_attack_symlink_before_dotdot_is_refused(tmp_path: Path) -> None:
    """(2) `sub/../base.raw` with `sub` a symbolic link out of the folder: normpath folds
    it to the harmless folder/base.raw, the kernel goes through sub first."""
    secret = write_secret(tmp_path / "outside" / "base.raw")
    (tmp_path / "outside" / "deep").mkdir()
    folder = tmp_path / "folder"
    folder.mkdir()
    create(folder / "base.raw", "raw", "1M")
    (folder / "sub").symlink_to("../outside/deep")
    top = overlay(folder / "top.qcow2", "sub/../base.raw", "raw")
    done, trace = convert_traced(tmp_path, top)
    assert_refused_unread(done, trace, secret)
    assert f"leads outside the folder, to {secret}" in done.stderr


def test_attack_vmdk_parent_hint_is_refused(tmp_path: Path) -> None:
    """(3) A VMDK whose descriptor names a parent (parentFileNameHint) outside the folder."""
    secret = secret_vmdk(tmp_path / "outside" / "parent.vmdk")
    folder = tmp_path / "folder"
    folder.mkdir()
    top = folder / "top.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-b", "../outside/parent.vmdk", "-F", "vmdk", top, "1M")
    done, trace = convert_traced(tmp_path, top)
    assert_refused_unread(done, trace, secret)


def test_attack_vmdk_layer_with_empty_descriptor_size_is_refused(tmp_path: Path) -> None:
    """(4) A backing VMDK whose header says its descriptor is 0 sectors long: qemu reads the
    embedded descriptor anyway, and with it a parent outside the folder."""
    secret = secret_vmdk(tmp_path / "outside" / "parent.vmdk")
    folder = tmp_path / "folder"
    folder.mkdir()
    base = folder / "base.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-b", "../outside/parent.vmdk", "-F", "vmdk", base, "1M")
    patch(base, 36, struct.pack("<Q", 0))  # desc_size
    assert "parent.vmdk" in qemu_img("info", "-f", "vmdk", base)
    top = overlay(folder / "top.qcow2", "base.vmdk", "vmdk")
    done, trace = convert_traced(tmp_path, top)
    assert_refused_unread(done, trace, secret)


def test_attack_linked_top_with_a_decoy_beside_the_link_is_refused(tmp_path: Path) -> None:
    """(5) The top is a symbolic link into another folder: its relative link was read beside
    the link (a harmless decoy), while qemu reads it beside the real file (one that leads out)."""
    secret = write_secret(tmp_path / "outside" / "secret.raw")
    (tmp_path / "real").mkdir()
    overlay(tmp_path / "real" / "base.qcow2", str(secret), "raw")
    overlay(tmp_path / "real" / "top.qcow2", "base.qcow2")
    folder = tmp_path / "folder"
    folder.mkdir()
    create(folder / "base.qcow2", "qcow2", "16M")
    top = folder / "top.qcow2"
    top.symlink_to(tmp_path / "real" / "top.qcow2")
    done, trace = convert_traced(tmp_path, top)
    assert_refused_unread(done, trace, secret)
    assert f"leads outside the folder, to {secret}" in done.stderr


def test_sound_owned_chain_through_an_inner_symlink_is_flattened(tmp_path: Path) -> None:
    """base.raw <- mid.qcow2 <- top.qcow2, every link with its format, the middle one through
    a symbolic link that stays inside the folder: converted, and exactly flattened."""
    folder = tmp_path / "folder"
    (folder / "store").mkdir(parents=True)
    (folder / "sub").symlink_to("store")
    base = create(folder / "store" / "base.raw", "raw", "4M")
    write_pattern(base, "raw", 0, 2 * MiB, 0x11)
    mid = overlay(folder / "store" / "mid.qcow2", "base.raw", "raw")
    write_pattern(mid, "qcow2", MiB, MiB, 0x22)
    top = overlay(folder / "top.qcow2", "sub/mid.qcow2", "qcow2")
    write_pattern(top, "qcow2", 3 * MiB, 64 * 1024, 0x33)
    expected = create(tmp_path / "expected.raw", "raw", "16M")
    for offset, length, pattern in ((0, 2 * MiB, 0x11), (MiB, MiB, 0x22), (3 * MiB, 65536, 0x33)):
        write_pattern(expected, "raw", offset, length, pattern)
    layers = walk_backing_chain(top, RecordingQemuImg())
    assert [(la.link, la.status) for la in layers] == [
        (None, LayerStatus.OK), ("sub/mid.qcow2", LayerStatus.OK), ("base.raw", LayerStatus.OK),
    ]  # fmt: skip
    assert layers[2].path == folder / "sub" / "base.raw"
    done, trace = convert_traced(tmp_path, top)
    assert done.returncode == 0, done.stderr
    assert opened(trace, base), "the trace must show what qemu-img opened"
    out = tmp_path / "dest" / "flat.raw"
    assert (
        subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", "raw", "-s", expected, out]).returncode == 0
    )


# -- how a link is read and joined: as qemu does ----------------------------------------------


def test_formats_must_agree_and_be_recorded(tmp_path: Path) -> None:
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    top = overlay(tmp_path / "top.qcow2", "base.qcow2", "raw")  # recorded, but not what it is
    layers = walk_backing_chain(top, RecordingQemuImg())
    assert [la.status for la in layers] == [LayerStatus.OK, LayerStatus.REFUSED]
    assert "claims to be raw but its content is qcow2" in layers[1].message
    strip_backing_format(top)
    qemu = RecordingQemuImg()
    layers = walk_backing_chain(top, qemu)
    assert [(la.link, la.status) for la in layers] == [(None, "ok"), ("base.qcow2", "refused")]
    assert layers[1].message == (
        "The backing file's format is not recorded, so qemu would guess it from the content."
    )
    assert not qemu.opened(tmp_path / "base.qcow2")


def test_a_linked_layer_reads_its_own_links_beside_the_link(tmp_path: Path) -> None:
    """qemu joins a layer's relative link to the directory of the name it opened, not to the
    directory the symbolic link points into."""
    (tmp_path / "store").mkdir()
    create(tmp_path / "store" / "base.qcow2", "qcow2", "16M")
    overlay(tmp_path / "store" / "mid.qcow2", "base.qcow2")
    (tmp_path / "mid.qcow2").symlink_to("store/mid.qcow2")
    top = overlay(tmp_path / "top.qcow2", "mid.qcow2")
    assert statuses(top) == [(None, "ok"), ("mid.qcow2", "ok"), ("base.qcow2", "missing")]
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    layers = walk_backing_chain(top, RecordingQemuImg())
    assert chain_is_sound(layers) and layers[2].path == tmp_path / "base.qcow2"
    theirs = json.loads(qemu_img("info", "--backing-chain", "--output=json", top))
    assert [e["filename"] for e in theirs] == [str(la.path) for la in layers]


def test_a_linked_top_is_read_from_its_real_folder(tmp_path: Path) -> None:
    """Every qemu-img call of ours names the top by its real path, so its links are read
    from (and must stay inside) the folder it really lies in."""
    (tmp_path / "real").mkdir()
    (tmp_path / "shown").mkdir()
    create(tmp_path / "real" / "base.qcow2", "qcow2", "16M")
    overlay(tmp_path / "real" / "top.qcow2", "base.qcow2")
    (tmp_path / "shown" / "top.qcow2").symlink_to(tmp_path / "real" / "top.qcow2")
    layers = walk_backing_chain(tmp_path / "shown" / "top.qcow2", RecordingQemuImg())
    assert chain_is_sound(layers) and layers[1].path == tmp_path / "real" / "base.qcow2"


def test_protocol_names_as_qemu_tells_them(tmp_path: Path) -> None:
    for name in ("my_disk:1", "json:{}", "file:base.qcow2"):
        top = overlay(tmp_path / "top.qcow2", name, "raw")
        assert statuses(top) == [(None, "ok"), (name, "refused")], name
    create(tmp_path / "a:b.qcow2", "qcow2", "16M")
    top = overlay(tmp_path / "top.qcow2", "./a:b.qcow2")  # a `/` before the `:`: a file
    assert statuses(top) == [(None, "ok"), ("./a:b.qcow2", "ok")]


def test_a_hard_link_loop_is_a_loop(tmp_path: Path) -> None:
    overlay(tmp_path / "a.qcow2", "b.qcow2")
    os.link(tmp_path / "a.qcow2", tmp_path / "b.qcow2")
    assert statuses(tmp_path / "a.qcow2") == [(None, "ok"), ("b.qcow2", "loop")]


def test_qemu_info_never_opens_a_backing_file(tmp_path: Path) -> None:
    """The walker relies on `qemu-img info -f FORMAT` reading a layer's link without
    opening what it names: checked on this qemu-img, under strace."""
    secret = write_secret(tmp_path / "outside" / "secret.raw")
    top = overlay(tmp_path / "top.qcow2", str(secret), "raw")
    log = tmp_path / "strace.log"
    script = f"from diskscope.core.qemu.qemu_img import QemuImg; print(QemuImg().info({str(top)!r}, 'qcow2'))"
    subprocess.run(["strace", "-f", "-y", "-qq", "-e", "trace=%file", "-o", str(log),
                    sys.executable, "-c", script], check=True, capture_output=True)  # fmt: skip
    trace = log.read_text()
    assert opened(trace, top), "the trace must show what qemu-img opened"
    assert opened(trace, secret) == []


def test_the_window_reads_the_top_image_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17: gather_details hands its report of the top to the walker: our inspector
    reads each layer once, and qemu-img is asked for the info of each layer once."""
    import diskscope.core.safety as safety

    read: list[str] = []
    real_inspect = safety.inspect_file

    def counting(path: str | os.PathLike[str], declared: object = None) -> object:
        read.append(os.path.basename(path))
        return real_inspect(path, declared)  # type: ignore[arg-type]

    monkeypatch.setattr(safety, "inspect_file", counting)
    create(tmp_path / "base.qcow2", "qcow2", "16M")
    top = overlay(tmp_path / "top.qcow2", "base.qcow2")
    qemu = RecordingQemuImg()
    details = gather_details(top, qemu)
    assert [la.status for la in details.chain] == [LayerStatus.OK, LayerStatus.OK]
    assert sorted(read) == ["base.qcow2", "top.qcow2"]
    # qemu-img, which the gate keeps from a refused top, is asked about each layer once too
    assert qemu.calls_opening(top)["info"] == 1
    assert qemu.calls_opening(tmp_path / "base.qcow2")["info"] == 1
