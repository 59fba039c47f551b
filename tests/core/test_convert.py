"""Conversions with the real qemu-img: data round trips, sparseness, presets, refusals,
cancel and failure clean-up."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from catalogue import qcow2_backing_host_path, vmdk_flat_absolute
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.plan import plan_conversion, supports_direct_io
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.errors import (
    Cancelled,
    DestinationChanged,
    DestinationExists,
    DiskscopeError,
    NotEnoughSpace,
    QemuImgLimitExceeded,
    SourceChanged,
    UnsafeImage,
    VerificationFailed,
)
from diskscope.core.identity import settled_identity
from diskscope.core.progress import Progress
from diskscope.core.qemu.process import Limits
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import MiB, RecordingQemuImg, create, qemu_img
from proc import child_pids

DATA = ((0, MiB, 0x11), (5 * MiB, 2 * MiB, 0x22), (30 * MiB, 512 * 1024, 0x33))


def raw_with_data(path: Path, size: int = 32 * MiB, ranges=DATA) -> Path:  # type: ignore[no-untyped-def]
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length, value in ranges:
            f.seek(offset)
            f.write(bytes([value]) * length)
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


SOURCES = [
    ("qcow2", "qcow2", ()),
    ("vmdk", "vmdk", ()),
    ("stream.vmdk", "vmdk", ("subformat=streamOptimized",)),
    ("vhd", "vpc", ("force_size=on",)),
    ("fixed.vhd", "vpc", ("subformat=fixed", "force_size=on")),
    ("vhdx", "vhdx", ()),
    ("vdi", "vdi", ()),
]


@pytest.mark.parametrize(("suffix", "fmt", "opts"), SOURCES, ids=[s[0] for s in SOURCES])
def test_every_source_format_to_raw(tmp_path: Path, suffix: str, fmt: str, opts: tuple[str, ...]) -> None:
    original = raw_with_data(tmp_path / "original.raw")
    source = tmp_path / f"source.{suffix}"
    args = ["convert", "-f", "raw", "-O", fmt, *(["-o", ",".join(opts)] if opts else [])]
    qemu_img(*args, original, source)
    before = sha256(source)
    result = ConvertJob(ConvertRequest(source, tmp_path / "out.raw", "raw"), QemuImg()).run()
    assert sha256(tmp_path / "out.raw") == sha256(original)
    assert any(check.startswith("sampled data: ") for check in result.checks)
    assert sha256(source) == before, "the source must never be written to"
    assert not (tmp_path / "out.raw.part").exists()


TARGETS = [
    ("qcow2", None, "qcow2"),
    ("vmdk", "monolithicSparse", "vmdk"),
    ("vmdk", "streamOptimized", "vmdk"),
    ("vpc", "dynamic", "vpc"),
    ("vpc", "fixed", "vpc"),
    ("vhdx", None, "vhdx"),
    ("vdi", None, "vdi"),
]


@pytest.mark.parametrize(("target", "subformat", "qemu_fmt"), TARGETS,
                         ids=[f"{t}-{s}" for t, s, _ in TARGETS])  # fmt: skip
def test_raw_to_every_target(tmp_path: Path, target: str, subformat: str | None, qemu_fmt: str) -> None:
    source = raw_with_data(tmp_path / "source.raw")
    out = tmp_path / "out.img"
    request = ConvertRequest(source, out, target, subformat=subformat)  # the default verification
    result = ConvertJob(request, QemuImg()).run()
    assert result.format == target and result.virtual_size == 32 * MiB
    done = subprocess.run(["qemu-img", "compare", "-f", "raw", "-F", qemu_fmt, str(source),
                           str(out)], capture_output=True)  # fmt: skip
    assert done.returncode == 0, done.stdout
    if target == "vmdk":
        assert f'createType="{subformat}"'.encode() in out.read_bytes()[:8192]


def test_raw_output_stays_sparse(tmp_path: Path) -> None:
    source = tmp_path / "source.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw_with_data(tmp_path / "r.raw", 256 * MiB),
             source)  # fmt: skip
    result = ConvertJob(ConvertRequest(source, tmp_path / "out.raw", "raw"), QemuImg()).run()
    data = sum(length for _, length, _ in DATA)
    assert os.path.getsize(tmp_path / "out.raw") == 256 * MiB
    assert data <= result.disk_usage <= data + MiB


def test_existing_destination_is_refused_unless_overwrite(tmp_path: Path) -> None:
    source = raw_with_data(tmp_path / "s.raw")
    out = tmp_path / "out.qcow2"
    out.write_bytes(b"precious")
    with pytest.raises(DestinationExists):
        ConvertJob(ConvertRequest(source, out, "qcow2"), QemuImg()).run()
    assert out.read_bytes() == b"precious"
    ConvertJob(ConvertRequest(source, out, "qcow2", overwrite=True), QemuImg()).run()
    assert out.read_bytes()[:4] == b"QFI\xfb"


def test_destination_that_is_the_source_is_refused(tmp_path: Path) -> None:
    source = create(tmp_path / "s.qcow2", "qcow2", "16M")
    link = tmp_path / "same.qcow2"
    os.link(source, link)
    with pytest.raises(DiskscopeError, match="is the source itself"):
        ConvertJob(ConvertRequest(source, link, "qcow2", overwrite=True), QemuImg()).run()


def test_unsafe_sources_are_refused_before_qemu_opens_them(tmp_path: Path) -> None:
    for source in (qcow2_backing_host_path(tmp_path), vmdk_flat_absolute(tmp_path)):
        qemu = RecordingQemuImg()
        with pytest.raises(UnsafeImage):
            ConvertJob(ConvertRequest(source, tmp_path / "out.raw", "raw"), qemu).run()
        assert not qemu.opened(source)
        assert not (tmp_path / "out.raw").exists()
    # The spy sees every way qemu-img opens a source: run() calls and the started convert.
    safe = create(tmp_path / "safe.qcow2", "qcow2", "1M")
    qemu = RecordingQemuImg()
    ConvertJob(ConvertRequest(safe, tmp_path / "safe.raw", "raw"), qemu).run()
    assert {"info", "map", "convert"} <= qemu.commands_opening(safe)


def test_owned_backing_chain_is_flattened_on_request(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", raw_with_data(tmp_path / "r.raw"), base)
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top)
    with pytest.raises(UnsafeImage):
        ConvertJob(ConvertRequest(top, tmp_path / "flat.raw", "raw"), QemuImg()).run()
    request = ConvertRequest(top, tmp_path / "flat.raw", "raw", allow_owned_backing=True)
    ConvertJob(request, QemuImg()).run()
    assert sha256(tmp_path / "flat.raw") == sha256(tmp_path / "r.raw")


def test_backing_file_and_data_file_options_are_refused(tmp_path: Path) -> None:
    source = raw_with_data(tmp_path / "s.raw")
    for option in ("backing_file=/etc/passwd", "data_file=/tmp/x", "compat=1.1,data_file=/x"):
        with pytest.raises(DiskscopeError, match=r"not allowed|invalid value"):
            ConvertJob(ConvertRequest(source, tmp_path / "o.qcow2", "qcow2",
                                      extra_options=(option,)), QemuImg()).run()  # fmt: skip
    assert not (tmp_path / "o.qcow2").exists()


def test_not_enough_space_is_refused_before_starting(tmp_path: Path) -> None:
    """The free-space probe is a seam: a full disk cannot be arranged on demand here."""
    source = raw_with_data(tmp_path / "s.raw")
    qemu = RecordingQemuImg()
    with pytest.raises(NotEnoughSpace) as exc:
        ConvertJob(ConvertRequest(source, tmp_path / "o.qcow2", "qcow2"), qemu,
                   free_space=lambda _folder: MiB).run()  # fmt: skip
    assert "1.0 MiB (1,048,576 bytes)" in str(exc.value)
    assert not any(call[0] == "convert" for call in qemu.calls)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]
    ConvertJob(ConvertRequest(source, tmp_path / "o.qcow2", "qcow2"), qemu).run()  # the spy sees it
    assert any(call[0] == "convert" for call in qemu.calls)


def test_formats_qemu_cannot_measure_need_their_data_plus_metadata_room(tmp_path: Path) -> None:
    """vdi has no `measure`: 32 MiB of data needs 32 MiB + 1/64 + 8 MiB; 40 MiB free is short.
    (The free-space probe is the seam, as above; found by the mutation run.)"""
    source = raw_with_data(tmp_path / "s.raw", 32 * MiB, ((0, 32 * MiB, 0x5A),))
    request = ConvertRequest(source, tmp_path / "o.vdi", "vdi")
    with pytest.raises(NotEnoughSpace):
        ConvertJob(request, QemuImg(), free_space=lambda _folder: 40 * MiB).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]
    ConvertJob(request, QemuImg(), free_space=lambda _folder: 41 * MiB).run()
    qemu_img("compare", "-f", "raw", "-F", "vdi", source, tmp_path / "o.vdi")


def test_flattened_chain_keeps_the_top_layers_size(tmp_path: Path) -> None:
    """A top layer larger than its base: the flattened output has the top's size."""
    base = tmp_path / "base.qcow2"
    qemu_img(
        "convert",
        "-f",
        "raw",
        "-O",
        "qcow2",
        raw_with_data(tmp_path / "r.raw", 16 * MiB, ((0, MiB, 7),)),
        base,
    )
    top = tmp_path / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", top, "48M")
    request = ConvertRequest(top, tmp_path / "flat.raw", "raw", allow_owned_backing=True)
    result = ConvertJob(request, QemuImg()).run()
    assert (tmp_path / "flat.raw").stat().st_size == 48 * MiB
    assert result.virtual_size == 48 * MiB


def test_compression_is_for_qcow2_only(tmp_path: Path) -> None:
    source = raw_with_data(tmp_path / "s.raw")
    for target in ("raw", "vmdk", "vdi"):
        request = ConvertRequest(source, tmp_path / f"o.{target}", target, compression="zlib")
        with pytest.raises(DiskscopeError, match="qcow2 only"):
            ConvertJob(request, QemuImg()).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_a_source_is_settled_only_once_the_clock_passed_its_last_change(tmp_path: Path) -> None:
    """A write in the same clock tick as the last one keeps st_ctime: the identity is taken
    only once the clock has moved past the file's change time by one tick."""
    source = raw_with_data(tmp_path / "s.raw")
    identity = settled_identity(source)
    grain = 2_000_000_000 if identity.ctime_ns % 1_000_000_000 == 0 else 50_000_000
    assert time.time_ns() >= identity.ctime_ns + grain


def test_on_a_whole_second_filesystem_the_identity_waits_out_the_second(seconds_filesystem) -> None:  # type: ignore[no-untyped-def]
    """Where timestamps are whole seconds, a write later in the same second keeps st_ctime:
    the identity is taken only once the clock is two seconds past it (FAT's tick)."""
    source = Path(seconds_filesystem.mount) / "s.raw"
    source.write_bytes(b"x" * 4096)
    identity = settled_identity(source)
    assert identity.ctime_ns % 1_000_000_000 == 0  # the filesystem is what it claims
    assert time.time_ns() >= identity.ctime_ns + 2_000_000_000


def test_a_source_changed_in_the_future_is_refused(seconds_filesystem) -> None:  # type: ignore[no-untyped-def]
    """A file whose st_ctime is ahead of this system's clock (written by a machine whose clock
    was ahead; here set on disk with debugfs): a write when the clock gets there could keep
    it, so the file is refused rather than waited for."""
    (Path(seconds_filesystem.mount) / "s.raw").write_bytes(b"x" * 4096)
    ahead = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() + 60))  # a minute: enough
    seconds_filesystem.edit(f"set_inode_field s.raw ctime {ahead}")
    with pytest.raises(SourceChanged, match="in the future"):
        settled_identity(Path(seconds_filesystem.mount) / "s.raw")


def test_output_of_another_size_fails_verification(tmp_path: Path) -> None:
    """Another program grows the finished output before it is verified: refused, nothing placed."""
    source = raw_with_data(tmp_path / "s.raw")

    def on_progress(p: Progress) -> None:
        if p.phase == "verifying output":
            for part in tmp_path.glob(".diskscope-*/o.raw.part"):
                os.truncate(part, 33 * MiB)

    request = ConvertRequest(source, tmp_path / "o.raw", "raw")
    with pytest.raises(VerificationFailed, match="expected raw of 33,554,432 bytes"):
        ConvertJob(request, QemuImg(), on_progress=on_progress).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_output_our_inspector_refuses_fails_verification(tmp_path: Path) -> None:
    """Another program zeroes the finished output's header before it is verified: our
    inspector's first reason is the sentence, nothing placed."""
    source = raw_with_data(tmp_path / "s.raw")

    def on_progress(p: Progress) -> None:
        if p.phase == "verifying output":
            for part in tmp_path.glob(".diskscope-*/o.qcow2.part"):
                with open(part, "r+b") as f:
                    f.write(bytes(512))

    request = ConvertRequest(source, tmp_path / "o.qcow2", "qcow2")
    with pytest.raises(
        VerificationFailed, match="our inspection: The image claims to be qcow2 but its content is raw"
    ):
        ConvertJob(request, QemuImg(), on_progress=on_progress).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_the_direct_io_probe_leaves_no_name_behind(tmp_path: Path) -> None:
    """The probe is an unnamed file (O_TMPFILE): nothing appears in a folder others may
    share; a folder it cannot open in is simply not O_DIRECT."""
    supports_direct_io(tmp_path)
    assert list(tmp_path.iterdir()) == []
    assert supports_direct_io(tmp_path / "missing") is False


def test_real_disk_full_leaves_nothing(tmp_path: Path, small_filesystem: Path) -> None:
    """The pre-flight check is told there is room, so qemu-img hits a real ENOSPC."""
    source = raw_with_data(tmp_path / "s.raw", 32 * MiB, ((0, 16 * MiB, 0x44),))
    with pytest.raises(NotEnoughSpace, match="filled up"):
        ConvertJob(ConvertRequest(source, small_filesystem / "o.raw", "raw"), QemuImg(),
                   free_space=lambda _folder: 1 << 40).run()  # fmt: skip
    assert list(small_filesystem.iterdir()) == []


def test_file_size_limit_on_the_child_is_reported_and_cleaned(tmp_path: Path) -> None:
    source = raw_with_data(tmp_path / "s.raw")
    limits = Limits(cpu_seconds=60, memory_bytes=2 << 30, wall_seconds=None, file_size_bytes=MiB)
    with pytest.raises(QemuImgLimitExceeded, match="file size limit"):
        ConvertJob(ConvertRequest(source, tmp_path / "o.raw", "raw"), QemuImg(),
                   limits=limits).run()  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def _slow_source(tmp_path: Path) -> Path:
    ranges = [(i * 16 * MiB, 4 * MiB, i + 1) for i in range(8)]
    return raw_with_data(tmp_path / "big.raw", 128 * MiB, ranges)


def test_cancel_mid_progress_leaves_no_file_and_no_process(tmp_path: Path) -> None:
    source = _slow_source(tmp_path)
    cancel = threading.Event()
    seen: list[Progress] = []

    def on_progress(p: Progress) -> None:
        seen.append(p)
        if p.phase == "converting" and p.done > 0:
            cancel.set()

    before = child_pids()
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2", rate_limit=4 * MiB)
    with pytest.raises(Cancelled):
        ConvertJob(request, QemuImg(), on_progress=on_progress, cancel=cancel).run()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.raw"]
    assert child_pids() - before == set()
    fractions = [p.fraction for p in seen if p.fraction is not None]
    assert fractions == sorted(fractions)


def test_destination_folder_replaced_mid_conversion_fails_cleanly(tmp_path: Path) -> None:
    """Another program removes the destination folder and makes a new one of the same name
    while qemu-img writes: nothing may appear in the new folder, and the job says why."""
    source = _slow_source(tmp_path)
    folder = tmp_path / "out"
    folder.mkdir()
    replaced: list[bool] = []

    def on_progress(p: Progress) -> None:
        if p.phase == "converting" and p.done > 0 and not replaced:
            shutil.rmtree(folder)
            folder.mkdir()
            replaced.append(True)

    before = child_pids()
    request = ConvertRequest(source, folder / "o.qcow2", "qcow2", rate_limit=16 * MiB)
    with pytest.raises(DestinationChanged, match="removed or replaced"):
        ConvertJob(request, QemuImg(), on_progress=on_progress).run()
    assert replaced and list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.raw", "out"]
    assert child_pids() - before == set()


def test_progress_is_throttled_and_reaches_the_end(tmp_path: Path) -> None:
    source = _slow_source(tmp_path)
    seen: list[Progress] = []
    request = ConvertRequest(source, tmp_path / "o.qcow2", "qcow2", rate_limit=32 * MiB)
    ConvertJob(request, QemuImg(), on_progress=seen.append).run()
    converting = [p for p in seen if p.phase == "converting"]
    assert converting[-1].done == converting[-1].total == 32 * MiB  # the data, not the disk
    assert len(converting) >= 3
    assert any(p.rate for p in converting)


PRESETS = [
    ("openstack-raw", "raw", None),
    ("openstack-qcow2", "qcow2", "1.1"),
    ("esxi", "vmdk", "streamOptimized"),
    ("vmware-workstation", "vmdk", "monolithicSparse"),
    ("hyperv", "vhdx", None),
    ("azure", "vpc", "fixed"),
    ("virtualbox", "vdi", None),
]


@pytest.mark.parametrize(("preset", "fmt", "detail"), PRESETS, ids=[p[0] for p in PRESETS])
def test_presets_produce_what_they_promise(tmp_path: Path, preset: str, fmt: str, detail: str | None) -> None:
    odd = 10 * MiB + 123 * 512  # not a whole MiB: azure must round it up
    source = tmp_path / "s.raw"
    with open(source, "wb") as f:
        f.truncate(odd)
        f.write(b"boot" * 1024)
    out = tmp_path / "out.img"
    ConvertJob(ConvertRequest.from_preset(preset, source, out), QemuImg()).run()
    import json

    info = json.loads(qemu_img("info", "-f", fmt, "--output=json", out))
    assert info["format"] == fmt
    if preset == "azure":
        assert info["virtual-size"] == 11 * MiB
        footer = out.read_bytes()[-512:]
        assert footer[:8] == b"conectix" and footer[60:64] == b"\0\0\0\x02"  # fixed
    else:
        assert info["virtual-size"] == odd
    if fmt == "vmdk":
        assert info["format-specific"]["data"]["create-type"] == detail
        assert b'ddb.adapterType = "lsilogic"' in out.read_bytes()[:8192]
    if fmt == "qcow2":
        assert info["format-specific"]["data"]["compat"] == detail


def test_plan_shows_the_command_and_space(tmp_path: Path) -> None:
    source = raw_with_data(tmp_path / "s.raw")
    plan = plan_conversion(ConvertRequest(source, tmp_path / "o.raw", "raw"), QemuImg())
    assert plan.required == sum(length for _, length, _ in DATA)
    assert plan.fits and plan.free > plan.required
    assert plan.spec.target.endswith("/o.raw.part")
    assert not (tmp_path / "o.raw.part").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]
    assert plan.spec.out_of_order
