"""The catalogue of test images, benign and hostile, with the verdict each must get.

Each case builds its file in a folder and names the exact set of violation codes
our inspector must report (empty: safe). Several test modules walk this list.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import random
import struct
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from diskscope.core.inspect.verdict import ViolationCode as C
from imagekit import (
    MiB,
    create,
    iso_volume_descriptors,
    patch,
    qcow2_header_v2,
    qemu_img,
    set_qcow2_incompatible,
    vmdk_descriptor,
)


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path], Path]
    format: str
    codes: frozenset[C] = frozenset()
    warnings: frozenset[C] = frozenset()

    @property
    def safe(self) -> bool:
        return not self.codes


def _qcow2(folder: Path, name: str = "disk.qcow2", size: str = "64M", *opts: str) -> Path:
    return create(folder / name, "qcow2", size, *opts)


def qcow2_backing_host_path(folder: Path) -> Path:
    path = folder / "evil.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", "-u", path, "1M")
    return path


def qcow2_data_file(folder: Path) -> Path:
    return _qcow2(folder, "df.qcow2", "16M", f"data_file={folder / 'data.raw'}")


def qcow2_data_file_bit_only(folder: Path) -> Path:
    path = _qcow2(folder, "bit.qcow2", "16M")
    set_qcow2_incompatible(path, 1 << 2)
    return path


def qcow2_data_file_extension_only(folder: Path) -> Path:
    path = _qcow2(folder, "ext.qcow2", "16M", f"data_file={folder / 'data.raw'}")
    with open(path, "r+b") as f:
        f.seek(72)
        (bits,) = struct.unpack(">Q", f.read(8))
        f.seek(72)
        f.write(struct.pack(">Q", bits & ~(1 << 2)))
    return path


def qcow2_unknown_feature(folder: Path) -> Path:
    path = _qcow2(folder, "future.qcow2", "16M")
    set_qcow2_incompatible(path, 1 << 9)
    return path


def qcow2_corrupt_bit(folder: Path) -> Path:
    path = _qcow2(folder, "corrupt.qcow2", "16M")
    set_qcow2_incompatible(path, 1 << 1)
    return path


def qcow2_huge_cluster_bits(folder: Path) -> Path:
    path = _qcow2(folder, "bits.qcow2", "16M")
    patch(path, 20, struct.pack(">I", 30))
    return path


def qcow2_l1_past_end(folder: Path) -> Path:
    path = _qcow2(folder, "l1.qcow2", "16M")
    patch(path, 40, struct.pack(">Q", 1 << 40))
    return path


def qcow2_too_many_snapshots(folder: Path) -> Path:
    path = _qcow2(folder, "snaps.qcow2", "16M")
    patch(path, 60, struct.pack(">IQ", 10_000_000, 65536))
    return path


def qcow2_truncated(folder: Path) -> Path:
    source = _qcow2(folder, "whole.qcow2", "16M")
    path = folder / "cut.qcow2"
    path.write_bytes(source.read_bytes()[:50])
    source.unlink()
    return path


def tiny_qcow2_with_backing(folder: Path) -> Path:
    """85 bytes: a v2 header and a backing file name, nothing else."""
    path = folder / "tiny"
    path.write_bytes(qcow2_header_v2(1 << 30, b"/etc/shadow\0\0"))
    assert path.stat().st_size == 85
    return path


def qcow2_16tib_sparse(folder: Path) -> Path:
    return _qcow2(folder, "huge.qcow2", "16T")


def qcow2_extended_l2(folder: Path) -> Path:
    return _qcow2(folder, "l2.qcow2", "64M", "extended_l2=on", "cluster_size=128k")


def qcow2_v2(folder: Path) -> Path:
    return _qcow2(folder, "old.qcow2", "64M", "compat=0.10")


def qcow2_zstd(folder: Path) -> Path:
    return _qcow2(folder, "z.qcow2", "64M", "compression_type=zstd")


def qcow2_as_vmdk_name(folder: Path) -> Path:
    return _qcow2(folder, "liar.vmdk", "16M")


def qcow2_with_vhd_footer(folder: Path) -> Path:
    path = _qcow2(folder, "twoface.qcow2", "16M")
    footer = create(folder / "f.vhd", "vpc", "1M", "subformat=fixed").read_bytes()[-512:]
    with open(path, "ab") as f:
        f.write(footer)
    return path


def qcow1(folder: Path) -> Path:
    return create(folder / "v1.qcow", "qcow", "16M")


def qed(folder: Path) -> Path:
    return create(folder / "disk.qed", "qed", "16M")


def _sparse_vmdk(folder: Path, name: str, subformat: str = "monolithicSparse") -> Path:
    return create(folder / name, "vmdk", "16M", f"subformat={subformat}")


def vmdk_sparse(folder: Path) -> Path:
    return _sparse_vmdk(folder, "disk.vmdk")


def vmdk_stream_optimized(folder: Path) -> Path:
    return _sparse_vmdk(folder, "stream.vmdk", "streamOptimized")


def vmdk_flat_absolute(folder: Path) -> Path:
    path = folder / "flat.vmdk"
    path.write_bytes(vmdk_descriptor("monolithicFlat", ['RW 2048 FLAT "/etc/passwd" 0']))
    return path


def vmdk_flat_relative(folder: Path) -> Path:
    path = folder / "rel.vmdk"
    path.write_bytes(vmdk_descriptor("monolithicFlat", ['RW 2048 FLAT "../secret.img" 0']))
    return path


def vmdk_sparse_text_descriptor(folder: Path) -> Path:
    """A descriptor claiming a single-file type that still names an extent file."""
    path = folder / "sparse-desc.vmdk"
    path.write_bytes(vmdk_descriptor("monolithicSparse", ['RW 2048 SPARSE "other.vmdk"']))
    return path


def vmdk_create_type_in_comment(folder: Path) -> Path:
    """qemu takes the first `createType` in the text, even inside a comment."""
    path = folder / "comment.vmdk"
    path.write_bytes(
        vmdk_descriptor(
            "monolithicFlat",
            ['RW 2048 FLAT "/etc/passwd" 0'],
            comment='# createType="monolithicSparse"',
        )
    )
    return path


def vmdk_capacity0_embedded_flat(folder: Path) -> Path:
    """A sparse header of capacity 0: qemu follows its embedded descriptor's extents."""
    path = _sparse_vmdk(folder, "cap0.vmdk")
    patch(path, 12, struct.pack("<Q", 0))
    desc = vmdk_descriptor("monolithicFlat", ['RW 2048 FLAT "/etc/passwd" 0'])
    patch(path, 512, desc + b"\0" * (1024 - len(desc)))
    return path


def vmdk_capacity0_desc_size0(folder: Path) -> Path:
    """Capacity 0 and a descriptor size of 0: qemu still reads up to 1 MiB at the offset."""
    path = vmdk_capacity0_embedded_flat(folder)
    patch(path, 36, struct.pack("<Q", 0))
    return path


def vmdk_descriptor_control_byte(folder: Path) -> Path:
    """qemu's probe skips comment lines whatever they hold; the name declares nothing."""
    path = folder / "ctl.img"
    path.write_bytes(vmdk_descriptor("monolithicFlat", ['RW 2048 FLAT "flat.img" 0'], comment="#\x01\x7f"))
    (folder / "flat.img").write_bytes(b"\0" * MiB)
    return path


def vmdk_descriptor_multiline_extent(folder: Path) -> Path:
    """qemu's sscanf() reads an extent line across newlines."""
    path = folder / "lines.img"
    path.write_bytes(vmdk_descriptor("monolithicFlat", ["RW", "2048", "FLAT", '"flat.img" 0']))
    return path


def vmdk_huge_sector_count(folder: Path) -> Path:
    path = folder / "digits.img"
    path.write_bytes(vmdk_descriptor("monolithicFlat", [f'RW {"9" * 5000} FLAT "flat.img" 0']))
    return path


def vmdk_parent_hint(folder: Path) -> Path:
    base = create(folder / "base.vmdk", "vmdk", "16M")
    path = folder / "child.vmdk"
    qemu_img("create", "-q", "-f", "vmdk", "-b", base, "-F", "vmdk", path, "16M")
    return path


def text_mentioning_create_type(folder: Path) -> Path:
    """Like a test module of oslo.utils: VMDK words, but no `version=` line first."""
    path = folder / "test_vmdk.py"
    path.write_text(
        "import unittest\n\nDESCRIPTOR = (\n    'version=1\\n'\n    'createType=\"monolithicFlat\"\\n'\n"
        "    'RW 2048 FLAT \"/etc/passwd\" 0\\n'\n)\n"
    )
    return path


def text_descriptor_after_blank_line(folder: Path) -> Path:
    """An empty line before `version=`: qemu's probe says raw, so this is only text."""
    path = folder / "blank.img"
    path.write_bytes(b"\n" + vmdk_descriptor("monolithicFlat", ['RW 2048 FLAT "/etc/passwd" 0']))
    return path


def vmdk_footer_mismatch(folder: Path) -> Path:
    path = _sparse_vmdk(folder, "foot.vmdk", "streamOptimized")
    patch(path, 56, struct.pack("<Q", 0xFFFFFFFFFFFFFFFF))
    with open(path, "ab") as f:
        f.write(b"\0" * 1536)
    return path


def vmdk_truncated(folder: Path) -> Path:
    path = folder / "cut.vmdk"
    path.write_bytes(_sparse_vmdk(folder, "whole.vmdk").read_bytes()[:100])
    (folder / "whole.vmdk").unlink()
    return path


def vpc_dynamic(folder: Path) -> Path:
    return create(folder / "dyn.vhd", "vpc", "16M")


def vpc_fixed(folder: Path) -> Path:
    return create(folder / "fixed.vhd", "vpc", "16M", "subformat=fixed")


def vhd_checksum(footer: bytes) -> bytes:
    """The footer with its checksum made right, as the VHD specification computes it."""
    blank = footer[:64] + b"\0\0\0\0" + footer[68:]
    return footer[:64] + struct.pack(">I", ~sum(blank) & 0xFFFFFFFF) + footer[68:]


def _patch_vhd_footers(path: Path, offset: int, data: bytes) -> None:
    """Change a field in both copies of a VHD footer, keeping the checksums right."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        for at in (0, size - 512):
            f.seek(at)
            footer = bytearray(f.read(512))
            if footer.startswith(b"conectix"):
                footer[offset : offset + len(data)] = data
                f.seek(at)
                f.write(vhd_checksum(bytes(footer)))


def vpc_differencing(folder: Path) -> Path:
    path = create(folder / "diff.vhd", "vpc", "16M")
    _patch_vhd_footers(path, 60, struct.pack(">I", 4))
    return path


def vpc_bad_checksum(folder: Path) -> Path:
    """qemu 7.2 refuses it: "Incorrect header checksum"."""
    path = create(folder / "sum.vhd", "vpc", "16M")
    with open(path, "r+b") as f:
        (stored,) = struct.unpack(">I", f.read(68)[64:])
        f.seek(64)
        f.write(struct.pack(">I", stored ^ 1))
    return path


def vpc_fixed_bad_checksum(folder: Path) -> Path:
    path = create(folder / "fixsum.vhd", "vpc", "16M", "subformat=fixed")
    with open(path, "r+b") as f:
        f.seek(-512 + 64, os.SEEK_END)
        (stored,) = struct.unpack(">I", f.read(4))
        f.seek(-512 + 64, os.SEEK_END)
        f.write(struct.pack(">I", stored ^ 1))
    return path


def vhdx(folder: Path) -> Path:
    return create(folder / "disk.vhdx", "vhdx", "64M")


def vhdx_truncated(folder: Path) -> Path:
    path = folder / "cut.vhdx"
    path.write_bytes(create(folder / "w.vhdx", "vhdx", "64M").read_bytes()[: 100 * 1024])
    (folder / "w.vhdx").unlink()
    return path


def vdi(folder: Path) -> Path:
    return create(folder / "disk.vdi", "vdi", "16M")


def vdi_fixed(folder: Path) -> Path:
    return create(folder / "fixed.vdi", "vdi", "4M", "static=on")


_LUKS_CACHE: dict[str, bytes] = {}


def luks(folder: Path) -> Path:
    """qemu's key-derivation benchmark fails now and then on busy machines
    ("Unable to get accurate CPU usage"), so the image is made once, with retries."""
    path = folder / "disk.luks"
    if "image" not in _LUKS_CACHE:
        for _ in range(10):
            done = subprocess.run(
                ["qemu-img", "create", "-q", "-f", "luks", "--object", "secret,id=s0,data=test",
                 "-o", "key-secret=s0,iter-time=100", str(path), "4M"],
                capture_output=True, check=False,
            )  # fmt: skip
            if done.returncode == 0:
                _LUKS_CACHE["image"] = path.read_bytes()
                break
        else:
            raise AssertionError(f"qemu-img could not create a LUKS image: {done.stderr!r}")
    path.write_bytes(_LUKS_CACHE["image"])
    return path


def _luks2(folder: Path, metadata: bytes) -> Path:
    path = folder / "disk2.luks"
    header = bytearray(16384)
    header[0:8] = b"LUKS\xba\xbe\x00\x02"
    header[8:16] = struct.pack(">Q", 16384)
    header[4096 : 4096 + len(metadata)] = metadata
    path.write_bytes(bytes(header) + b"\0" * MiB)
    return path


def luks2(folder: Path) -> Path:
    meta = {"keyslots": {"0": {}}, "segments": {"0": {}}, "digests": {}, "config": {}}
    return _luks2(folder, json.dumps(meta).encode())


def luks2_deep_json(folder: Path) -> Path:
    return _luks2(folder, b"[" * 50_000 + b"]" * 50_000)


def luks2_keyslots_number(folder: Path) -> Path:
    return _luks2(folder, b'{"keyslots": 5, "segments": {}}')


def parallels(folder: Path) -> Path:
    return create(folder / "disk.hds", "parallels", "16M")


def raw_empty(folder: Path) -> Path:
    path = folder / "empty.img"
    path.write_bytes(b"")
    return path


def raw_random(folder: Path) -> Path:
    path = folder / "random.img"
    path.write_bytes(random.Random(7).randbytes(MiB))
    return path


def raw_zeros(folder: Path) -> Path:
    """A freshly made VM disk: nothing but zeros."""
    path = folder / "blank.raw"
    path.write_bytes(b"\0" * MiB)
    return path


def raw_printable_fill(folder: Path) -> Path:
    """A test disk filled with one letter from its first byte: binary to us, not text."""
    path = folder / "letters.raw"
    path.write_bytes(b"D" * MiB)
    return path


def raw_printable_lines(folder: Path) -> Path:
    """Printable bytes with no line break in the first 4 KiB, as guest data may be."""
    path = folder / "lines.raw"
    path.write_bytes(((b"0123456789abcdef" * 512)[:-1] + b"\n") * 128)
    return path


def tiny_binary(folder: Path) -> Path:
    path = folder / "tiny.img"
    path.write_bytes(bytes(range(200, 237)))
    return path


def text_passwd(folder: Path) -> Path:
    path = folder / "passwd"
    path.write_bytes(Path("/etc/passwd").read_bytes())
    return path


def text_sha256sums(folder: Path) -> Path:
    path = folder / "SHA256SUMS"
    path.write_text("".join(f"{random.Random(i).randbytes(32).hex()}  disk-{i}.qcow2\n" for i in range(40)))
    return path


def text_ovf(folder: Path) -> Path:
    path = folder / "appliance.ovf"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1">\n'
        '  <References><File ovf:href="disk1.vmdk" ovf:id="file1"/></References>\n</Envelope>\n'
    )
    return path


def _qcow2_bytes(folder: Path) -> bytes:
    data = _qcow2(folder, "inner.qcow2", "16M").read_bytes()
    (folder / "inner.qcow2").unlink()
    return data


def qcow2_xz(folder: Path) -> Path:
    path = folder / "disk.qcow2.xz"
    path.write_bytes(lzma.compress(_qcow2_bytes(folder)))
    return path


def qcow2_gzip(folder: Path) -> Path:
    path = folder / "disk.qcow2.gz"
    path.write_bytes(gzip.compress(_qcow2_bytes(folder)))
    return path


def qcow2_bzip2(folder: Path) -> Path:
    path = folder / "disk.qcow2.bz2"
    path.write_bytes(bz2.compress(_qcow2_bytes(folder)))
    return path


def qcow2_zstd_file(folder: Path) -> Path:
    """A zstd frame of raw (stored) blocks, built by hand: Python 3.11 has no zstd."""
    data = _qcow2_bytes(folder)
    blocks = [data[i : i + 128 * 1024] for i in range(0, len(data), 128 * 1024)]
    frame = b"\x28\xb5\x2f\xfd\x00\x58"  # magic, no checksum or size, a 2 MiB window
    for i, block in enumerate(blocks):
        frame += (len(block) << 3 | (i == len(blocks) - 1)).to_bytes(3, "little") + block
    path = folder / "disk.qcow2.zst"
    path.write_bytes(frame)
    return path


def qcow2_zip(folder: Path) -> Path:
    path = folder / "disk.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("disk.qcow2", _qcow2_bytes(folder))
    return path


def ova_tar(folder: Path) -> Path:
    """An OVA: a tar of an OVF descriptor and a disk."""
    path = folder / "appliance.ova"
    with tarfile.open(path, "w") as archive:
        for name, data in (("appliance.ovf", b"<Envelope/>\n"), ("disk.qcow2", _qcow2_bytes(folder))):
            member = tarfile.TarInfo(name)
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def random_named_qcow2(folder: Path) -> Path:
    path = folder / "random.qcow2"
    path.write_bytes(random.Random(8).randbytes(64 * 1024))
    return path


def raw_sparse(folder: Path) -> Path:
    path = folder / "disk.raw"
    with open(path, "wb") as f:
        f.truncate(64 * MiB)
        f.seek(MiB)
        f.write(b"data" * 1024)
    return path


def iso(folder: Path) -> Path:
    path = folder / "cd.iso"
    with open(path, "wb") as f:
        f.write(b"\0" * 32768 + iso_volume_descriptors())
        f.truncate(64 * 2048)
    return path


def iso_with_qcow2_header(folder: Path) -> Path:
    path = folder / "hybrid.iso"
    head = _qcow2(folder, "h.qcow2", "16M").read_bytes()
    with open(path, "wb") as f:
        f.write(head[:32768].ljust(32768, b"\0") + iso_volume_descriptors())
        f.write(head[36864:])
    return path


def gpt_disk(folder: Path) -> Path:
    """A GPT disk as partitioning tools write it: a protective MBR, then the GPT header."""
    path = folder / "gpt.img"
    sectors = 4 * MiB // 512
    with open(path, "wb") as f:
        f.truncate(4 * MiB)
        mbr = bytearray(512)
        mbr[446:462] = bytes([0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF]) + struct.pack("<II", 1, sectors - 1)
        mbr[510:512] = b"\x55\xaa"
        f.write(bytes(mbr))
        f.write(
            b"EFI PART"
            + struct.pack(
                "<IIIIQQQQ16sQII",
                0x10000,
                92,
                0,
                0,
                1,
                sectors - 1,
                34,
                sectors - 34,
                b"\0" * 16,
                2,
                128,
                128,
            )
        )
    return path


def gpt_signature_in_530_bytes(folder: Path) -> Path:
    path = folder / "gpt530.img"
    path.write_bytes(b"\0" * 512 + b"EFI PART" + b"\0" * 10)
    return path


def _mbr_disk(folder: Path, name: str, entries: list[bytes]) -> Path:
    path = folder / name
    mbr = bytearray(512)
    mbr[0:3] = b"\xeb\x63\x90"  # boot code starts with a jump
    for i, entry in enumerate(entries):
        mbr[446 + 16 * i : 462 + 16 * i] = entry
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(bytes(mbr))
        f.truncate(4 * MiB)
    return path


def mbr_disk(folder: Path) -> Path:
    return _mbr_disk(
        folder, "mbr.img", [bytes([0x80, 1, 1, 0, 0x83, 0xFE, 0xFF, 0xFF]) + struct.pack("<II", 2048, 6144)]
    )


def mbr_bad_boot_flag(folder: Path) -> Path:
    """oslo.utils refuses it; qemu opens it as raw like any disk, so we only warn."""
    return _mbr_disk(
        folder, "flag.img", [bytes([0x42, 1, 1, 0, 0x83, 0xFE, 0xFF, 0xFF]) + struct.pack("<II", 2048, 6144)]
    )


def gpt_protective_wrong_start(folder: Path) -> Path:
    path = gpt_disk(folder)
    patch(path, 446 + 8, struct.pack("<I", 7))
    return path


def qcow2_aes(folder: Path) -> Path:
    path = folder / "aes.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "--object", "secret,id=s0,data=key", "-o",
             "encrypt.format=aes,encrypt.key-secret=s0", path, "16M")  # fmt: skip
    return path


def named_dash_f(folder: Path) -> Path:
    return _qcow2(folder, "-f", "16M")


def named_json(folder: Path) -> Path:
    return _qcow2(folder, 'json:{"driver":"file","filename":"x"}', "16M")


def named_nbd(folder: Path) -> Path:
    return _qcow2(folder, "nbd:localhost:10809", "16M")


def _case(build: Callable[[Path], Path], fmt: str, *codes: C, warns: tuple[C, ...] = ()) -> Case:
    return Case(build.__name__, build, fmt, frozenset(codes), frozenset(warns))


CASES = [
    _case(qcow2_backing_host_path, "qcow2", C.BACKING_FILE),
    _case(qcow2_data_file, "qcow2", C.DATA_FILE),
    _case(qcow2_data_file_bit_only, "qcow2", C.DATA_FILE),
    _case(qcow2_data_file_extension_only, "qcow2", C.DATA_FILE),
    _case(qcow2_unknown_feature, "qcow2", C.UNKNOWN_FEATURES),
    _case(qcow2_corrupt_bit, "qcow2", C.CORRUPT),
    _case(qcow2_huge_cluster_bits, "qcow2", C.IMPLAUSIBLE_HEADER),
    _case(qcow2_l1_past_end, "qcow2", C.IMPLAUSIBLE_HEADER),
    _case(qcow2_too_many_snapshots, "qcow2", C.IMPLAUSIBLE_HEADER),
    _case(qcow2_truncated, "qcow2", C.TRUNCATED),
    _case(tiny_qcow2_with_backing, "qcow2", C.BACKING_FILE, C.IMPLAUSIBLE_HEADER),
    _case(qcow2_16tib_sparse, "qcow2"),
    _case(qcow2_extended_l2, "qcow2"),
    _case(qcow2_v2, "qcow2"),
    _case(qcow2_zstd, "qcow2"),
    _case(qcow2_as_vmdk_name, "qcow2", C.FORMAT_MISMATCH),
    _case(qcow2_with_vhd_footer, "qcow2", C.AMBIGUOUS_FORMAT),
    _case(qcow1, "qcow", C.BANNED_FORMAT),
    _case(qed, "qed", C.BANNED_FORMAT),
    _case(vmdk_sparse, "vmdk"),
    _case(vmdk_stream_optimized, "vmdk"),
    _case(vmdk_flat_absolute, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_flat_relative, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_sparse_text_descriptor, "vmdk", C.VMDK_EXTENT),
    _case(vmdk_create_type_in_comment, "vmdk", C.VMDK_EXTENT),
    _case(vmdk_capacity0_embedded_flat, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_capacity0_desc_size0, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_descriptor_control_byte, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_descriptor_multiline_extent, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_huge_sector_count, "vmdk", C.VMDK_CREATE_TYPE, C.VMDK_EXTENT),
    _case(vmdk_parent_hint, "vmdk", C.BACKING_FILE),
    _case(text_mentioning_create_type, "raw", C.NOT_A_DISK_IMAGE),
    _case(text_descriptor_after_blank_line, "raw", C.NOT_A_DISK_IMAGE),
    _case(vmdk_footer_mismatch, "vmdk", C.VMDK_FOOTER),
    _case(vmdk_truncated, "vmdk", C.TRUNCATED),
    _case(vpc_dynamic, "vpc"),
    _case(vpc_fixed, "vpc"),
    _case(vpc_differencing, "vpc", C.BACKING_FILE),
    _case(vpc_bad_checksum, "vpc", C.IMPLAUSIBLE_HEADER),
    _case(vpc_fixed_bad_checksum, "vpc", C.IMPLAUSIBLE_HEADER),
    _case(vhdx, "vhdx"),
    _case(vhdx_truncated, "vhdx", C.TRUNCATED),
    _case(vdi, "vdi"),
    _case(vdi_fixed, "vdi"),
    _case(luks, "luks"),
    _case(luks2, "luks", C.BANNED_FORMAT),
    _case(luks2_deep_json, "luks", C.BANNED_FORMAT, C.IMPLAUSIBLE_HEADER),
    _case(luks2_keyslots_number, "luks", C.BANNED_FORMAT, C.IMPLAUSIBLE_HEADER),
    _case(parallels, "parallels"),
    _case(raw_empty, "raw", C.NOT_A_DISK_IMAGE),
    _case(raw_random, "raw"),
    _case(raw_zeros, "raw"),
    _case(raw_printable_fill, "raw"),
    _case(raw_printable_lines, "raw"),
    _case(tiny_binary, "raw", C.NOT_A_DISK_IMAGE),
    _case(text_passwd, "raw", C.NOT_A_DISK_IMAGE),
    _case(text_sha256sums, "raw", C.NOT_A_DISK_IMAGE),
    _case(text_ovf, "raw", C.NOT_A_DISK_IMAGE),
    _case(qcow2_xz, "raw", C.NOT_A_DISK_IMAGE),
    _case(qcow2_gzip, "raw", C.NOT_A_DISK_IMAGE),
    _case(qcow2_bzip2, "raw", C.NOT_A_DISK_IMAGE),
    _case(qcow2_zstd_file, "raw", C.NOT_A_DISK_IMAGE),
    _case(qcow2_zip, "raw", C.NOT_A_DISK_IMAGE),
    _case(ova_tar, "raw", C.NOT_A_DISK_IMAGE),
    _case(random_named_qcow2, "raw", C.FORMAT_MISMATCH),
    _case(raw_sparse, "raw"),
    _case(iso, "iso"),
    _case(iso_with_qcow2_header, "qcow2", C.AMBIGUOUS_FORMAT, C.FORMAT_MISMATCH),
    _case(gpt_disk, "gpt"),
    _case(gpt_signature_in_530_bytes, "gpt", C.TRUNCATED),
    _case(gpt_protective_wrong_start, "gpt", warns=(C.PARTITION_TABLE,)),
    _case(mbr_disk, "mbr"),
    _case(mbr_bad_boot_flag, "raw", warns=(C.PARTITION_TABLE,)),
    _case(qcow2_aes, "qcow2", C.LEGACY_ENCRYPTION),
    _case(named_dash_f, "qcow2"),
    _case(named_json, "qcow2"),
    _case(named_nbd, "qcow2"),
]

CASE_IDS = [c.name for c in CASES]


def build(case: Case, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = case.build(folder)
    assert os.path.lexists(path)
    return path
