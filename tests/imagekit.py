"""Test images: real ones made by qemu-img, hostile ones crafted byte by byte.

Tests call qemu-img directly here (not through Diskscope's runner) so that the
images they check Diskscope against do not depend on the code under test.
"""

from __future__ import annotations

import json
import os
import random
import struct
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from diskscope.core.qemu.process import Completed, Limits
from diskscope.core.qemu.qemu_img import QemuImg

MiB = 1024 * 1024


def qemu_img(*args: str | os.PathLike[str]) -> str:
    done = subprocess.run(["qemu-img", *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"qemu-img {args} failed: {done.stderr}")
    return done.stdout


def create(path: Path, fmt: str, size: str = "64M", *options: str) -> Path:
    args: list[str] = ["create", "-q", "-f", fmt]
    if options:
        args += ["-o", ",".join(options)]
    qemu_img(*args, path, size)
    return path


def write_pattern(path: Path, fmt: str, offset: int, length: int, pattern: int = 0xAB) -> None:
    """Write real guest data into an image with qemu-io."""
    subprocess.run(
        ["qemu-io", "-f", fmt, "-c", f"write -P {pattern:#x} {offset} {length}", str(path)],
        check=True,
        capture_output=True,
    )


def patch(path: Path, offset: int, data: bytes) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def set_qcow2_incompatible(path: Path, bits: int) -> None:
    with open(path, "r+b") as f:
        f.seek(72)
        (current,) = struct.unpack(">Q", f.read(8))
        f.seek(72)
        f.write(struct.pack(">Q", current | bits))


def qcow2_header_v2(size: int, backing: bytes = b"", cluster_bits: int = 16) -> bytes:
    """A bare qcow2 v2 header (72 bytes), optionally followed by a backing file name."""
    bf_offset = 72 if backing else 0
    header = b"QFI\xfb" + struct.pack(
        ">IQIIQIIQQIIQ", 2, bf_offset, len(backing), cluster_bits, size, 0, 0, 0, 0, 0, 0, 0
    )
    return header + backing


def vmdk_descriptor(create_type: str, extents: Sequence[str], *, comment: str = "") -> bytes:
    lines = ["# Disk DescriptorFile", "version=1", "CID=12345678", "parentCID=ffffffff"]
    if comment:
        lines.append(comment)
    lines.append(f'createType="{create_type}"')
    lines += ["", "# Extent description", *extents, "", 'ddb.adapterType = "ide"', ""]
    return "\n".join(lines).encode()


def iso_volume_descriptors() -> bytes:
    """The volume descriptor set of an ISO 9660 image: primary, then terminator."""
    primary = bytearray(2048)
    primary[0:6] = b"\x01CD001"
    primary[6] = 1
    primary[80:84] = struct.pack("<I", 32)  # volume space size in blocks
    primary[128:130] = struct.pack("<H", 2048)
    terminator = bytearray(2048)
    terminator[0:6] = b"\xffCD001"
    terminator[6] = 1
    return bytes(primary + terminator)


class RecordingQemuImg(QemuImg):
    """The real runner, which also remembers every argv it ran or started (a spy, not a mock)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[tuple[str, ...]] = []

    def run(self, args: Sequence[str], limits: object = None) -> Completed:  # type: ignore[override]
        self.calls.append(tuple(args))
        return super().run(args, limits)  # type: ignore[arg-type]

    def start(self, args: Sequence[str], limits: Limits, stderr: IO[bytes]) -> Any:
        self.calls.append(tuple(args))
        return super().start(args, limits, stderr)

    def opened(self, path: Path) -> bool:
        return bool(self.commands_opening(path))

    def commands_opening(self, path: Path) -> set[str]:
        """The subcommands that named `path`, plainly or as a file inside a `json:` reference."""
        return set(self.calls_opening(path))

    def calls_opening(self, path: Path) -> Counter[str]:
        """How often each subcommand named `path`, plainly or as a file inside a `json:` reference."""
        target = os.path.realpath(path)
        return Counter(call[0] for call in self.calls
                       if any(os.path.realpath(name) == target for a in call[1:] for name in _files_named(a)))  # fmt: skip


def _files_named(arg: str) -> list[str]:
    if not arg.startswith("json:"):
        return [arg]
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("filename"), str):
                found.append(node["filename"])
            for value in node.values():
                walk(value)

    walk(json.loads(arg[5:]))
    return found


def qemu_img_working_in(folder: Path) -> set[int]:
    """qemu-img processes whose command line names `folder` (other tests may run qemu-img too)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "qemu-img" and str(folder) in (
                    entry / "cmdline"
                ).read_text(errors="replace"):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def raw_file(path: Path, size: int, pieces: int = 8) -> Path:
    """A sparse raw disk of `size` bytes: `pieces` runs of random data, a quarter full."""
    rng = random.Random(path.name)
    with open(path, "wb") as f:
        f.truncate(size)
        for i in range(pieces):
            f.seek(i * size // pieces)
            f.write(rng.randbytes(size // pieces // 4))
    return path


def gpt_disk_with_esp(path: Path) -> Path:
    """A raw disk whose GPT's second entry is an EFI system partition, written byte by byte."""
    data = bytearray(4 * MiB)
    data[510:512] = b"\x55\xaa"
    # the protective MBR entry as partitioning tools write it: CHS 0/2/0 (oslo's inspector in
    # Glance checks that), type 0xEE, from LBA 1 to the end
    data[446:462] = (
        bytes([0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF])
        + (1).to_bytes(4, "little")
        + (len(data) // 512 - 1).to_bytes(4, "little")
    )
    data[512:520] = b"EFI PART"
    data[512 + 72 : 512 + 88] = (
        (2).to_bytes(8, "little") + (128).to_bytes(4, "little") + (128).to_bytes(4, "little")
    )
    esp = bytes.fromhex("2873 2ac1 1ff8 d211 ba4b 00a0 c93e c93b".replace(" ", ""))
    data[1024 + 128 : 1024 + 144] = esp
    path.write_bytes(data)
    return path
