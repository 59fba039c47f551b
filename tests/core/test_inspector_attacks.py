"""Issue 11, the inspector's part: qemu 7.2 opens nothing we have not read, and we call
nothing a disk that is not one. Each attack is played against the real qemu-img under
strace, so the test shows the danger is real before showing that we refuse it."""

from __future__ import annotations

import os
import random
import struct
import subprocess
from pathlib import Path

import pytest
from catalogue import (
    CASE_IDS,
    CASES,
    Case,
    build,
    text_mentioning_create_type,
    vmdk_capacity0_desc_size0,
    vmdk_descriptor_control_byte,
    vmdk_parent_hint,
    vpc_bad_checksum,
)
from diskscope.core.chain import chain_is_sound, walk_backing_chain
from diskscope.core.formats import ImageFormat
from diskscope.core.inspect.inspector import inspect_file
from diskscope.core.inspect.verdict import ViolationCode as C
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.safety import inspect_image
from imagekit import RecordingQemuImg, patch, qemu_img
from qemu_trace import others_touched, probed_format, strace_info, touched


def test_descriptor_with_a_control_byte_in_a_comment_is_a_vmdk(tmp_path: Path) -> None:
    """qemu's probe skips comment lines whatever they hold and follows the extent; we once
    called the file text-free raw and let qemu probe it."""
    path = vmdk_descriptor_control_byte(tmp_path)
    assert str(tmp_path / "flat.img") in others_touched(path, strace_info(path, None))
    result = inspect_file(path)
    assert result.format == ImageFormat.VMDK
    assert {v.code for v in result.violations} == {C.VMDK_CREATE_TYPE, C.VMDK_EXTENT}
    qemu = RecordingQemuImg()
    assert not inspect_image(path, qemu).safe and qemu.calls == []


def test_capacity_0_and_descriptor_size_0_names_a_fifo(tmp_path: Path) -> None:
    """qemu reads up to 1 MiB at the descriptor offset whatever desc_size says, and would
    hang on a FIFO named as an extent; we read the same text and refuse it, opening nothing."""
    for folder in ("control", "fifo"):
        (tmp_path / folder).mkdir()
    control = vmdk_capacity0_desc_size0(tmp_path / "control")
    secret = tmp_path / "control" / "secret.img"
    secret.write_bytes(b"\0" * 1024 * 1024)
    _retarget_extent(control, secret)
    assert str(secret) in others_touched(control, strace_info(control, "vmdk"))

    path = vmdk_capacity0_desc_size0(tmp_path / "fifo")
    fifo = tmp_path / "fifo" / "pipe"
    os.mkfifo(fifo)
    _retarget_extent(path, fifo)
    result = inspect_file(path)
    assert {v.code for v in result.violations} == {C.VMDK_CREATE_TYPE, C.VMDK_EXTENT}
    assert any(str(fifo) in v.message for v in result.violations)
    qemu = RecordingQemuImg()
    assert not inspect_image(path, qemu).safe and qemu.calls == []


def _retarget_extent(path: Path, target: Path) -> None:
    desc = f'# Disk DescriptorFile\nversion=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "{target}" 0\n'
    assert len(desc) < 1024  # within the two sectors the catalogue cleared for it
    patch(path, 512, desc.encode() + b"\0")


def test_vmdk_parent_link_is_reported_as_qemu_reads_it(tmp_path: Path) -> None:
    path = vmdk_parent_hint(tmp_path)
    result = inspect_file(path)
    assert result.backing_file == str(tmp_path / "base.vmdk")
    assert result.details["backing_format"] == "vmdk"
    assert {v.code for v in result.violations} == {C.BACKING_FILE}
    told = qemu_img("info", "-f", "vmdk", "--output=json", path)
    assert f'"backing-filename": "{tmp_path / "base.vmdk"}"' in told
    layers = walk_backing_chain(path, QemuImg())  # the walker reads the same link
    assert [layer.path for layer in layers] == [path, tmp_path / "base.vmdk"]
    assert chain_is_sound(layers)


def test_text_that_mentions_vmdk_words_is_text_to_qemu_and_to_us(tmp_path: Path) -> None:
    path = text_mentioning_create_type(tmp_path)
    assert probed_format(path) == "raw"
    result = inspect_file(path)
    assert result.format == ImageFormat.RAW
    assert [v.message for v in result.violations] == ["The file is a text file, not a disk image."]


def test_vhd_with_a_wrong_footer_checksum_is_refused_as_qemu_does(tmp_path: Path) -> None:
    path = vpc_bad_checksum(tmp_path)
    assert "Incorrect header checksum" in _qemu_error(path, "vpc")
    (message,) = [v.message for v in inspect_file(path).violations]
    assert message.startswith("The VHD footer checksum is wrong") and "qemu refuses" in message


def _qemu_error(path: Path, fmt: str) -> str:
    done = subprocess.run(["qemu-img", "info", "-f", fmt, str(path)], capture_output=True, text=True)
    assert done.returncode != 0
    return done.stderr


# Lines that may come before `version=` and what qemu's probe does with them.
_BEFORE = [
    b"# Disk DescriptorFile\n",
    b"#\x01\x02\x7f\xff binary in a comment\n",
    b"#\n",
    b"   \n",
    b"  \r\n",
    b"\n",  # an empty line: qemu's probe gives up
    b"\t\n",
    b" x\n",
    b"\r\n",
    b"#" + b"x" * 2100 + b"\n",  # pushes `version=` past qemu's 2048-byte probe buffer
    b"\0\n",
]
_VERSIONS = [
    b"version=1\n",
    b"version=3\r\n",
    b"version=2\n",
    b"version=4\n",
    b"version = 1\n",
    b"Version=1\n",
]


@pytest.mark.parametrize("seed", range(2))
def test_vmdk_probe_parity_with_qemu(tmp_path: Path, seed: int) -> None:
    """Descriptors in many shapes: we call a file a VMDK exactly when qemu's probe does, and
    where we call it safe, qemu's probe (what the gate runs on raw files) opens nothing else."""
    rng = random.Random(seed)
    extent = tmp_path / "extent.img"
    extent.write_bytes(b"\0" * 1024 * 1024)
    agreed = {True: 0, False: 0}
    for i in range(24):
        head = b"".join(rng.choice(_BEFORE) for _ in range(rng.randint(0, 3)))
        body = head + rng.choice(_VERSIONS)
        body += (
            f'CID=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "{extent}" 0\n'.encode()
        )
        path = tmp_path / f"shape-{i}.img"
        path.write_bytes(body + b"\0" * 4096)  # a NUL: never text, so "raw" would be safe
        ours = inspect_file(path)
        theirs = probed_format(path)
        assert (ours.format == ImageFormat.VMDK) == (theirs == "vmdk"), (body[:80], theirs)
        agreed[theirs == "vmdk"] += 1
        if ours.safe:
            assert others_touched(path, strace_info(path, None)) == set()
    assert agreed[True] and agreed[False]  # both directions were exercised


def _traced_formats(fmt: ImageFormat) -> list[str | None]:
    """`info -f FORMAT`, and for raw files also the probe the gate's second opinion runs."""
    return [fmt.qemu_driver, None] if fmt.is_raw_family else [fmt.qemu_driver]


@pytest.mark.parametrize("case", [c for c in CASES if c.safe], ids=[c.name for c in CASES if c.safe])
def test_what_we_call_safe_makes_qemu_touch_no_other_file(case: Case, tmp_path: Path) -> None:
    """Every safe catalogue image, under strace, as the gate runs qemu-img on it."""
    path = build(case, tmp_path)
    result = inspect_file(path)
    assert result.safe
    for fmt in _traced_formats(result.format):
        lines = strace_info(path, fmt)
        assert str(path) in touched(lines)  # strace did watch qemu-img open it
        assert others_touched(path, lines) == set()


def test_catalogue_names_every_attack_once() -> None:
    assert len(set(CASE_IDS)) == len(CASE_IDS)


def test_gpt_signature_in_a_short_file_is_one_sentence(tmp_path: Path) -> None:
    """Every length that holds the signature but not the whole 92-byte GPT header."""
    for size in range(520, 512 + 92):
        path = tmp_path / f"gpt-{size}.img"
        path.write_bytes((b"\0" * 512 + b"EFI PART").ljust(size, b"\0"))
        result = inspect_file(path)
        assert result.format == ImageFormat.GPT
        assert [v.message for v in result.violations] == [
            f"The file has the GPT signature at byte 512 but is only {size} bytes long, "
            "too short for its 92-byte header."
        ]


def test_vhd_checksum_covers_every_footer_byte(tmp_path: Path) -> None:
    """One flipped bit anywhere in the footer (outside the checksum) is refused, as by qemu."""
    good = build(next(c for c in CASES if c.name == "vpc_dynamic"), tmp_path)
    data = good.read_bytes()
    for offset in (0, 8, 16, 40, 48, 60, 68, 100, 511):
        if 64 <= offset < 68:
            continue
        flipped = bytearray(data)
        flipped[offset] ^= 0x10
        path = tmp_path / f"flip-{offset}.vhd"
        path.write_bytes(bytes(flipped))
        codes = {v.code for v in inspect_file(path).violations}
        assert C.IMPLAUSIBLE_HEADER in codes or offset < 8, offset
    (stored,) = struct.unpack(">I", data[64:68])
    assert stored == ~(sum(data[:512]) - sum(data[64:68])) & 0xFFFFFFFF


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("qcow2_xz", "xz", "The file is an xz-compressed file, not a disk image; decompress it first."),
        (
            "ova_tar",
            "tar",
            "The file is a tar archive (an OVA appliance?), not a disk image; unpack it first.",
        ),
        (
            "qcow2_zstd_file",
            "zstd",
            "The file is a zstd-compressed file, not a disk image; decompress it first.",
        ),
        (
            "qcow2_bzip2",
            "bzip2",
            "The file is a bzip2-compressed file, not a disk image; decompress it first.",
        ),
        ("text_ovf", "text", "The file is a text file, not a disk image."),
        ("raw_empty", "empty", "The file is empty, not a disk image."),
        ("tiny_binary", "fragment", "The file is only 37 bytes long, smaller than one 512-byte sector."),
    ],
)
def test_not_a_disk_says_what_the_file_is(name: str, content: str, message: str, tmp_path: Path) -> None:
    path = build(next(c for c in CASES if c.name == name), tmp_path)
    result = inspect_file(path)
    assert result.details["content"] == content
    assert [v.message for v in result.violations] == [message]
