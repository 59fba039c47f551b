"""Edges of the inspector and the report that the mutation run (docs/mutation.md) found
untested: each test here failed on a surviving mutant and passes on the code as it is."""

from __future__ import annotations

import os
import struct
from pathlib import Path

from diskscope.core.inspect.inspector import inspect_file
from diskscope.core.inspect.verdict import ViolationCode
from diskscope.core.inspect.vmdk import Extent, extents
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.safety import inspect_image
from imagekit import create, patch, qemu_img
from qemu_trace import strace_info, touched


def test_qcow2_v3_header_of_exactly_104_bytes_is_safe(tmp_path: Path) -> None:
    """qemu before 5.1 wrote v3 headers of 104 bytes (no compression type field)."""
    image = create(tmp_path / "old.qcow2", "qcow2", "1M")
    patch(image, 100, struct.pack(">I", 104))
    qemu_img("check", "-f", "qcow2", image)  # qemu opens it as a sound image
    result = inspect_file(image)
    assert result.safe, result.violations


def test_qcow2_compression_type_without_its_incompatible_bit_is_implausible(tmp_path: Path) -> None:
    image = create(tmp_path / "zstd.qcow2", "qcow2", "1M")
    patch(image, 72, struct.pack(">Q", 1))  # another incompatible bit (dirty), not COMPRESSION
    patch(image, 104, b"\x01")  # compression type zstd
    messages = [v.message for v in inspect_file(image).violations]
    assert "The qcow2 compression type 1 is unknown or not flagged." in messages


def test_vmdk_descriptor_with_no_extent_is_refused(tmp_path: Path) -> None:
    image = tmp_path / "empty.vmdk"
    image.write_bytes(b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType="monolithicSparse"\n')
    result = inspect_file(image)
    assert [(v.code, v.message) for v in result.violations] == [
        (ViolationCode.VMDK_CREATE_TYPE, "This is a VMDK descriptor file with no data of its own.")
    ]


DESCRIPTOR = b'# Disk DescriptorFile\nversion=1\nCID=fffffffe\ncreateType="twoGbMaxExtentSparse"\n'


def test_sparse_extent_without_an_offset_is_opened_as_qemu_opens_it(tmp_path: Path) -> None:
    """A SPARSE extent line has four fields; with a fifth (an offset) qemu stops there."""
    lines = b'RW 128 SPARSE "first.vmdk"\nRW 128 SPARSE "second.vmdk" 0\nRW 128 FLAT "third.vmdk" 0\n'
    assert extents(DESCRIPTOR + lines) == [Extent("RW", 128, "SPARSE", "first.vmdk")]
    image = tmp_path / "desc.vmdk"
    image.write_bytes(DESCRIPTOR + lines)
    seen = {os.path.basename(p) for p in touched(strace_info(image, "vmdk"))}
    assert "first.vmdk" in seen and not {"second.vmdk", "third.vmdk"} & seen


def test_report_names_where_a_symbolic_link_leads(tmp_path: Path) -> None:
    image = create(tmp_path / "real.qcow2", "qcow2", "1M")
    link = tmp_path / "link.qcow2"
    link.symlink_to(image)
    qemu = QemuImg()
    assert inspect_image(link, qemu).to_json()["resolved_path"] == str(image)
    assert inspect_image(image, qemu).to_json()["resolved_path"] is None


def test_qcow2_v3_header_shorter_than_104_bytes_reads_no_compression_type(tmp_path: Path) -> None:
    """The field lies past such a header: the impossible length is reported, no compression."""
    image = create(tmp_path / "short.qcow2", "qcow2", "1M")
    patch(image, 100, struct.pack(">I", 100))
    patch(image, 104, b"\x05")
    messages = [v.message for v in inspect_file(image).violations]
    assert "The qcow2 header length 100 is impossible." in messages
    assert not [m for m in messages if "compression" in m], messages


def test_qcow_version_0_does_not_exist(tmp_path: Path) -> None:
    image = create(tmp_path / "v0.qcow2", "qcow2", "1M")
    patch(image, 4, struct.pack(">I", 0))
    messages = [v.message for v in inspect_file(image).violations]
    assert messages == ["The qcow2 header has version 0, which does not exist."], messages
