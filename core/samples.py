"""A small set of sample images, so that a newcomer sees every panel working."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .qemu.commands import absolute
from .qemu.qemu_img import QemuImg

MiB = 1024 * 1024
SAMPLE_SIZE = 64 * MiB
# (offset, length, byte) of the guest data written into the samples.
DATA_RANGES = ((0, MiB, 0xEB), (16 * MiB, 4 * MiB, 0x5A), (48 * MiB, MiB, 0xC3))
SNAPSHOT_NAMES = ("fresh install", "before upgrade ✓", "nightly 2026-11-24")


def _raw_with_data(path: Path) -> Path:
    with open(path, "wb") as f:
        f.truncate(SAMPLE_SIZE)
        for offset, length, value in DATA_RANGES:
            f.seek(offset)
            f.write(bytes([value]) * length)
    return path


def convert_quietly(
    qemu: QemuImg,
    source: str | os.PathLike[str],
    source_format: str,
    target: str | os.PathLike[str],
    target_format: str,
    options: Sequence[str] = (),
) -> None:
    """A plain, blocking conversion of our own files (samples, test data)."""
    args = ["convert", "-q", "-f", source_format, "-O", target_format]
    if options:
        args += ["-o", ",".join(options)]
    qemu.checked([*args, absolute(source), absolute(target)])


def snapshot_create(qemu: QemuImg, path: str | os.PathLike[str], fmt: str, name: str) -> None:
    """An internal snapshot in one of our own images."""
    # `qemu-img snapshot` has no -f; --image-opts names the driver just as explicitly.
    opts = f"driver={fmt},file.filename={absolute(path).replace(',', ',,')}"
    qemu.checked(["snapshot", "-q", "--image-opts", "-c", name, opts])


def create_samples(qemu: QemuImg, folder: str | os.PathLike[str] | None = None) -> list[Path]:
    """Create the samples in `folder` (a new temporary folder by default); return their paths.

    One of them, `refused-backing.qcow2`, points at /etc/passwd: it must be refused.
    """
    root = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="diskscope-"))
    root.mkdir(parents=True, exist_ok=True)
    raw = _raw_with_data(root / "disk-with-data.raw")

    snapshots = root / "snapshots.qcow2"
    convert_quietly(qemu, raw, "raw", snapshots, "qcow2")
    for name in SNAPSHOT_NAMES:
        snapshot_create(qemu, snapshots, "qcow2", name)

    base = root / "chain-base.qcow2"
    convert_quietly(qemu, raw, "raw", base, "qcow2")
    overlay = root / "chain-overlay.qcow2"
    qemu.create(overlay, "qcow2", SAMPLE_SIZE, backing=("chain-base.qcow2", "qcow2"))

    vmdk = root / "appliance.vmdk"
    convert_quietly(qemu, raw, "raw", vmdk, "vmdk", ["subformat=streamOptimized"])

    refused = root / "refused-backing.qcow2"
    qemu.create(refused, "qcow2", SAMPLE_SIZE, backing=("/etc/passwd", "raw"))
    return [snapshots, overlay, base, vmdk, raw, refused]
