"""Images for the parity suite: each one built the way a peer's own test builds it.

The peers are oslo.utils, Nova and Glance. Their tests were read (not copied) and
every concrete image in them is rebuilt here with the real qemu-img, or byte by
byte where the peer crafts bytes. Where the peer feeds a bare header to one of its
inspector's internals, we write the same bytes into a real image made by qemu-img,
so that our whole inspector and qemu-img judge a whole file.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import struct
import subprocess
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import oslo_utils
from imagekit import MiB, create, patch, qemu_img

# The releases whose tests were read. Nova and Glance moved their inspector to oslo.utils
# after these older ones; their own format-inspector tests live in the older releases.
OSLO = "oslo.utils 10.2.0"
NOVA_OLD = "nova 29.2.0"
NOVA = "nova 34.0.0"
GLANCE_OLD = "glance 29.0.0"
GLANCE = "glance 33.0.0"
PEERS = (OSLO, NOVA_OLD, NOVA, GLANCE_OLD, GLANCE)

OSLO_FI = "oslo_utils/tests/imageutils/test_format_inspector.py"
NOVA_FI = "nova/tests/unit/image/test_format_inspector.py"
NOVA_IMAGES = "nova/tests/unit/virt/test_images.py"
GLANCE_FI = "glance/tests/unit/common/test_format_inspector.py"
GLANCE_CONVERSION = "glance/tests/unit/async_/flows/plugins/test_image_conversion.py"
GLANCE_DECOMPRESSION = "glance/tests/unit/async_/flows/plugins/test_image_decompression.py"
GLANCE_STORE = "glance/tests/unit/test_store_image.py"
GLANCE_FUNCTIONAL = "glance/tests/functional/v2/test_images.py"
GLANCE_OVF = "glance/tests/unit/async_/flows/test_ovf_process.py"
NOVA_REGRESSION = "nova/tests/functional/regressions/test_bug_2079850.py"

# Violation codes by value, so that codes the inspector branch is adding can be named
# before they exist in ViolationCode.
NOT_A_DISK_IMAGE = "not_a_disk_image"

# The virtual size is whatever `qemu-img info -f <our format's driver>` reports.
QEMU = -1

Builder = Callable[[Path], Path]


@dataclass(frozen=True)
class Source:
    peer: str
    file: str
    test: str


@dataclass(frozen=True)
class ParityCase:
    """One concrete case from a peer's tests and the verdict Diskscope must give.

    `codes` are the final verdict's violation codes (empty: safe); `exact=False` means
    at least these. `format` and `size` are not checked when None. `differs` says why we
    deliberately disagree with the peer; `pending` says what is not built yet (the case is a
    strict xfail until it is).
    """

    id: str
    sources: tuple[Source, ...]
    build: Builder
    codes: frozenset[str] = frozenset()
    format: str | None = None
    size: int | None = None
    declared: str | None = None  # a Glance disk_format or a --format given by the user
    exact: bool = True
    differs: str | None = None
    pending: str | None = None
    subformat: str | None = None


def source(peer: str, file: str, *tests: str) -> tuple[Source, ...]:
    return tuple(Source(peer, file, t) for t in tests)


# -- images qemu-img makes ------------------------------------------------------------------


def qemu_image(fmt: str, size: int, *options: str, name: str = "") -> Builder:
    """`qemu-img create -f fmt [-o options] NAME size`, as the peers' _create_img does."""
    driver = "vpc" if fmt == "vhd" else fmt

    def build(folder: Path) -> Path:
        return create(folder / (name or f"disk.{fmt}"), driver, str(size), *options)

    return build


def qcow2_with_backing(folder: Path) -> Path:
    """The peers' backing file is a small text file named by absolute path, `-F raw`."""
    backing = folder / "backing"
    backing.write_text("foobar")
    path = folder / "top.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", "-b", backing, "-F", "raw", path, str(5 * MiB))
    return path


def qcow2_with_data_file(folder: Path) -> Path:
    return create(
        folder / "df.qcow2", "qcow2", str(5 * MiB), f"data_file={folder / 'data'}", "data_file_raw=on"
    )


def text_file(name: str, content: bytes) -> Builder:
    def build(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(content)
        return path

    return build


def oslo_test_source(folder: Path) -> Path:
    """The peers feed their own test module to the inspector as "invalid data": a Python
    file that mentions `createType`. This is oslo.utils' own, as installed for our tests."""
    original = Path(oslo_utils.__file__).parent / "tests" / "imageutils" / "test_format_inspector.py"
    path = folder / "test_format_inspector.py"
    path.write_bytes(original.read_bytes())
    return path


def luks(size: int) -> Builder:
    """A LUKS1 image by qemu-img. iter-time is lowered so the suite stays quick; the peers
    use the default, which changes only the iteration counts in the header."""

    def build(folder: Path) -> Path:
        path = folder / "disk.luks"
        stderr = b""
        for _ in range(10):  # qemu's key-derivation benchmark fails now and then when busy
            done = subprocess.run(
                [
                    "qemu-img",
                    "create",
                    "-q",
                    "-f",
                    "luks",
                    "--object",
                    "secret,id=sec0,data=secret-passphrase",
                    "-o",
                    "key-secret=sec0,iter-time=10",
                    str(path),
                    str(size),
                ],
                capture_output=True,
                check=False,
            )
            if done.returncode == 0:
                return path
            stderr = done.stderr
        raise AssertionError(f"qemu-img could not create a LUKS image: {stderr!r}")

    return build


def allocated_vmdk(subformat: str) -> Builder:
    """The peers' "big" VMDK: 5 MiB of random data converted with `-S 0`."""

    def build(folder: Path) -> Path:
        raw = folder / "random.raw"
        raw.write_bytes(random.Random(5).randbytes(5 * MiB))
        path = folder / "allocated.vmdk"
        qemu_img("convert", "-f", "raw", "-O", "vmdk", "-o", f"subformat={subformat}", "-S", "0", raw, path)
        raw.unlink()
        return path

    return build


def patched(base: Builder, *edits: tuple[int, bytes]) -> Builder:
    """`base`, then bytes written at offsets (negative: from the end)."""

    def build(folder: Path) -> Path:
        path = base(folder)
        size = path.stat().st_size
        for offset, data in edits:
            patch(path, offset if offset >= 0 else size + offset, data)
        return path

    return build


def appended(base: Builder, data: bytes) -> Builder:
    def build(folder: Path) -> Path:
        path = base(folder)
        with open(path, "ab") as f:
            f.write(data)
        return path

    return build


def renamed(base: Builder, name: str) -> Builder:
    def build(folder: Path) -> Path:
        return base(folder).rename(folder / name)

    return build


# -- qcow2 header bytes ---------------------------------------------------------------------


def qcow2_bytes(size: int, *edits: tuple[int, int]) -> Builder:
    """A real qcow2 v3 with single bytes set, as oslo's feature-flag test sets them in a
    bare header: (offset, value)."""
    return patched(qemu_image("qcow2", size), *((off, bytes([val])) for off, val in edits))


def qcow2_version(size: int, version: int, *options: str) -> Builder:
    return patched(qemu_image("qcow2", size, *options), (4, struct.pack(">I", version)))


# -- VMDK -----------------------------------------------------------------------------------

GD_AT_END = 0xFFFFFFFFFFFFFFFF
VMDK_DESC_OFFSET = 0x1C  # the header field oslo corrupts


def vmdk_with_descriptor(lines: Sequence[str]) -> Builder:
    """A qemu-img monolithicSparse VMDK whose embedded descriptor is `lines`, the way
    oslo's test_vmdk_safety_checks puts them behind a sparse header."""

    def build(folder: Path) -> Path:
        path = create(folder / "desc.vmdk", "vmdk", str(5 * MiB))
        with open(path, "rb") as f:
            head = f.read(512)
        desc_offset, desc_size = struct.unpack_from("<QQ", head, VMDK_DESC_OFFSET)
        text = "\n".join(lines).encode()
        assert len(text) < desc_size * 512
        patch(path, desc_offset * 512, text.ljust(desc_size * 512, b"\0"))
        return path

    return build


def _marker(kind: int, size: int = 0, pad: bytes = b"\0") -> bytes:
    return struct.pack("<QII", 0, size, kind) + pad * 496


def vmdk_footer(
    *,
    magic: bytes = b"KDMV",
    version_delta: int = 0,
    desc_size_delta: int = 0,
    desc_offset_delta: int = 0,
    gd_offset: int = 123,
    footer_marker: tuple[int, int, bytes] = (3, 0, b"\0"),
    eos_marker: tuple[int, int, bytes] = (0, 0, b"\0"),
) -> Builder:
    """A streamOptimized VMDK whose header says "footer at the end", with a footer marker,
    a footer (the header, changed as oslo's test_vmdk_footer_checks changes it) and an
    end-of-stream marker appended."""

    def build(folder: Path) -> Path:
        path = create(folder / "footer.vmdk", "vmdk", str(5 * MiB), "subformat=streamOptimized")
        patch(path, 56, struct.pack("<Q", GD_AT_END))
        header = bytearray(path.read_bytes()[:512])
        version, _flags, _capacity, _grain, desc_offset, desc_size = struct.unpack_from("<IIQQQQ", header, 4)
        header[0:4] = magic
        struct.pack_into("<I", header, 4, version + version_delta)
        struct.pack_into("<QQ", header, 28, desc_offset + desc_offset_delta, desc_size + desc_size_delta)
        struct.pack_into("<Q", header, 56, gd_offset)
        with open(path, "ab") as f:
            f.write(_marker(*footer_marker) + bytes(header) + _marker(*eos_marker))
        return path

    return build


def vmdk_footer_zeros(folder: Path) -> Path:
    """oslo's test_vmdk_with_footer, first half: "footer at the end", then three zero sectors."""
    path = create(folder / "zeros.vmdk", "vmdk", str(5 * MiB), "subformat=streamOptimized")
    patch(path, 56, struct.pack("<Q", GD_AT_END))
    with open(path, "ab") as f:
        f.write(b"\0" * 1536)
    return path


def vmdk_footer_made_legit(folder: Path) -> Path:
    """oslo's test_vmdk_with_footer, second half: the zero sectors become a footer marker,
    a copy of the header with the low byte of gdOffset cleared, and an end-of-stream marker."""
    path = vmdk_footer_zeros(folder)
    header = bytearray(path.read_bytes()[:512])
    header[56:57] = b"\0"
    patch(path, path.stat().st_size - 1536 + 12, b"\x03\0\0\0")
    patch(path, path.stat().st_size - 1024, bytes(header))
    return path


# -- ISO 9660, UDF, MBR and GPT, as bytes -------------------------------------------------

ISO_START = 32768
SECTOR = 2048


def _volume_descriptor(kind: int, ident: bytes) -> bytearray:
    block = bytearray(SECTOR)
    block[0] = kind
    block[1:6] = ident
    block[6] = 1
    return block


def _primary(blocks: int) -> bytes:
    pvd = _volume_descriptor(1, b"CD001")
    pvd[40:72] = b"TEST".ljust(32)  # mkisofs -V TEST
    pvd[80:88] = struct.pack("<I", blocks) + struct.pack(">I", blocks)
    pvd[128:132] = struct.pack("<H", SECTOR) + struct.pack(">H", SECTOR)
    return bytes(pvd)


def iso_image(size: int, *, udf: bool = False, system_area: bytes = b"", name: str = "disk.iso") -> Builder:
    """A sparse ISO 9660 image of `size` bytes, as `mkisofs -V TEST` lays it out: the
    system area, the primary volume descriptor, the terminator, and with `-udf` the UDF
    volume recognition sequence (BEA01, NSR02, TEA01) after them."""

    def build(folder: Path) -> Path:
        descriptors = _primary(size // SECTOR) + bytes(_volume_descriptor(255, b"CD001"))
        if udf:
            descriptors += b"".join(bytes(_volume_descriptor(0, i)) for i in (b"BEA01", b"NSR02", b"TEA01"))
        path = folder / name
        with open(path, "wb") as f:
            f.write(system_area.ljust(ISO_START, b"\0") + descriptors)
            f.truncate(size)
        return path

    return build


def iso_with_qcow2_system_area(qcow2_size: int, iso_size: int) -> Builder:
    """The peers' bad ISO: `dd` the first 32 KiB of a qcow2 over an ISO's system area."""

    def build(folder: Path) -> Path:
        head = create(folder / "orig.qcow2", "qcow2", str(qcow2_size)).read_bytes()[:ISO_START]
        return iso_image(iso_size, system_area=head, name="bad.iso")(folder)

    return build


def pte(boot: int = 0, ostype: int = 0xEE, start_head: int = 2, start_lba: int = 1) -> bytes:
    """One MBR partition entry as oslo's tests pack it (start sector, end CHS and size zero)."""
    return struct.pack("<BBBBBBBBII", boot, 0, start_head, 0, ostype, 0, 0, 0, start_lba, 0)


def mbr_disk(size: int, *entries: bytes, name: str = "disk.img") -> Builder:
    """`size` bytes: the boot signature and the given partition entries, zeros elsewhere."""

    def build(folder: Path) -> Path:
        data = bytearray(size)
        data[510:512] = b"\x55\xaa"
        for i, entry in enumerate(entries):
            data[446 + 16 * i : 462 + 16 * i] = entry
        path = folder / name
        path.write_bytes(bytes(data))
        return path

    return build


def iso_gpt_hybrid(folder: Path) -> Path:
    """An isohybrid-style ISO: a protective MBR and a GPT header in the system area."""
    sectors = 4 * MiB // 512
    gpt = b"EFI PART" + struct.pack(
        "<IIIIQQQQ16sQII", 0x10000, 92, 0, 0, 1, sectors - 1, 34, sectors - 34, b"\0" * 16, 2, 128, 128
    )
    mbr = bytearray(512)
    mbr[446:462] = pte()
    mbr[510:512] = b"\x55\xaa"
    return iso_image(4 * MiB, system_area=bytes(mbr) + gpt, name="hybrid.iso")(folder)


# -- LUKS1 headers, from the LUKS1 on-disk format ---------------------------------------------

KEYSLOT_ACTIVE, KEYSLOT_DISABLED = 0x00AC71F3, 0x0000DEAD


def luks1_header(
    *,
    version: int = 1,
    cipher: bytes = b"aes",
    mode: bytes = b"xts-plain64",
    hash_spec: bytes = b"sha256",
    payload_offset: int = 4096,
    key_bytes: int = 32,
    active_slots: int = 1,
) -> bytes:
    """A 592-byte LUKS1 phdr: the fields oslo's _build_luks_header fills, one active slot."""
    head = struct.pack(
        ">6sH32s32s32sII20s32sI40s",
        b"LUKS\xba\xbe",
        version,
        cipher,
        mode,
        hash_spec,
        payload_offset,
        key_bytes,
        b"\x11" * 20,
        b"\x22" * 32,
        1000,
        b"00000000-0000-0000-0000-000000000000",
    )
    slots = b""
    for i in range(8):
        state = KEYSLOT_ACTIVE if i < active_slots else KEYSLOT_DISABLED
        slots += struct.pack(">II32sII", state, 100000, b"\xaa" * 32, 8 + 512 * i, 4000)
    header = head + slots
    assert len(header) == 592
    return header


def luks1_bytes(header: bytes, total: int) -> Builder:
    return text_file("crafted.luks", header.ljust(total, b"\0"))


# -- archives and compressed files (Glance's image_decompression plugin) --------------------


def gzip_of(content: bytes) -> bytes:
    return gzip.compress(content, mtime=0)


def zip_of(*members: tuple[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in members:
            zf.writestr(name, content)
    return buffer.getvalue()


# -- a qcow2 whose guest data is a VMDK (Glance: "a qcow with a vmdk inside it") ----------


def qcow2_holding_vmdk(folder: Path) -> Path:
    inner = create(folder / "inner.vmdk", "vmdk", str(MiB))
    path = folder / "outer.qcow2"
    qemu_img("convert", "-f", "raw", "-O", "qcow2", inner, path)
    os.unlink(inner)
    return path


# -- Nova's regression test for bug 2079850: whole-disk filesystems without a partition table


def vfat_ephemeral(size: int) -> Builder:
    """A sparse disk holding a FAT32 filesystem and no partition table, as Nova's
    `_create_ephemeral` makes it with `mkfs.vfat -n ephemeral0`: the boot sector mkfs.fat
    writes (jump, BPB, its "not a bootable disk" stub, 0x55AA), written here byte by byte
    because dosfstools is not a test dependency."""

    def build(folder: Path) -> Path:
        sectors = size // 512
        boot = bytearray(512)
        boot[0:11] = b"\xeb\x58\x90mkfs.fat"
        struct.pack_into("<HBHBHHBHHHII", boot, 11, 512, 8, 32, 2, 0, 0, 0xF8, 0, 32, 64, 0, sectors)
        struct.pack_into("<IHHIHH", boot, 36, 2048, 0, 0, 2, 1, 6)
        struct.pack_into("<BBBI11s8s", boot, 64, 0x80, 0, 0x29, 0x1234ABCD, b"ephemeral0 ", b"FAT32   ")
        stub = bytes.fromhex("0e1fbe777cac22c0740b56b40ebb0700cd105eebf032e4cd16cd19ebfe")
        message = b"This is not a bootable disk.  Please insert a bootable floppy and\r\n"
        message += b"press any key to try again ... \r\n"
        boot[90 : 90 + len(stub)] = stub
        boot[0x77 : 0x77 + len(message)] = message
        boot[510:512] = b"\x55\xaa"
        path = folder / "ephemeral_1073741824_.img"
        with open(path, "wb") as f:
            f.write(bytes(boot))
            f.truncate(size)
        return path

    return build


# -- Glance's OVA packages (glance/tests/var/*.ova), rebuilt as the same kind of tar ----------

OVF = b"""<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1"
          xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="testserver-disk1.vmdk" ovf:id="file1"/></References>
  <DiskSection><Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="vmdk"/></DiskSection>
</Envelope>
"""


def ova(*members: tuple[str, bytes]) -> Builder:
    """A GNU tar holding `members`, as Glance's test packages are."""

    def build(folder: Path) -> Path:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for name, content in members:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                info.mtime = 1439201220
                tar.addfile(info, io.BytesIO(content))
        path = folder / "testserver.ova"
        path.write_bytes(buffer.getvalue())
        return path

    return build


def png_image(folder: Path) -> Path:
    """Glance's testserver-not-tar.ova is a PNG picture (2000 x 2000, RGBA)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + bytes(4 * 2000) for _ in range(2000))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2000, 2000, 8, 6, 0, 0, 0))
    png += (
        chunk(b"bKGD", b"\0\xff\0\xff\0\xff") + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")
    )
    path = folder / "testserver-not-tar.ova"
    path.write_bytes(png)
    return path
