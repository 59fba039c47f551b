"""Test data made on the spot: sparse images with a known amount of data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmarks.paths import MiB


def sparse_raw(path: Path, virtual: int, data: int, pieces: int = 8) -> Path:
    """A sparse raw file of `virtual` bytes with `data` bytes of incompressible data in
    `pieces` places spread over the disk."""
    block = os.urandom(MiB)
    each = max(MiB, data // pieces // MiB * MiB)
    with open(path, "wb") as f:
        f.truncate(virtual)
        for i in range(pieces):
            f.seek(i * (virtual // pieces))
            for _ in range(each // MiB):
                f.write(block)
    return path


def qcow2_from(raw: Path, qcow2: Path) -> Path:
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    return qcow2


def many_small_qcow2(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / "img-0000.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(first), "1G"], check=True)
    content = first.read_bytes()
    paths = [first]
    for i in range(1, count):
        path = folder / f"img-{i:04d}.qcow2"
        path.write_bytes(content)
        paths.append(path)
    return paths
