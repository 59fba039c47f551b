"""Test data made on the spot: sparse images with a known amount of data."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from benchmarks.paths import GiB, MiB

RAM = Path("/dev/shm")  # tmpfs: what lives here is never dropped from memory


def input_folder(work: Path, needs: int) -> Path:
    """A private folder for a group's inputs (source images, served files): in RAM when there
    is room, so that dropping the page cache never makes a run read its input from the disk
    (both sides read it at memory speed); else in `work`, where Reset reads it back."""
    if RAM.is_dir():
        st = os.statvfs(RAM)
        if st.f_bavail * st.f_frsize > needs + GiB and _available() > needs + 4 * GiB:
            return Path(tempfile.mkdtemp(prefix="diskscope-bench-inputs-", dir=RAM))
    folder = work / "inputs"
    folder.mkdir()
    return folder


def _available() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


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
