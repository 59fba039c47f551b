"""Compressed images made by the real tools (xz, gzip, bzip2, zstd, zip), as vendors ship them."""

from __future__ import annotations

import subprocess
from pathlib import Path

TOOLS = {
    "xz": ["xz", "-z", "-c", "-T1", "-0"],
    "gzip": ["gzip", "-c", "-1"],
    "bzip2": ["bzip2", "-c", "-1"],
    "zstd": ["zstd", "-q", "-c", "-1"],
}
SUFFIX = {"xz": ".xz", "gzip": ".gz", "bzip2": ".bz2", "zstd": ".zst", "zip": ".zip"}


def compress(image: Path, packing: str, target: Path | None = None) -> Path:
    """`image` compressed by the real tool; `target` defaults to IMAGE.SUFFIX."""
    target = target or image.with_name(image.name + SUFFIX[packing])
    if packing == "zip":
        subprocess.run(["zip", "-q", "-j", str(target), str(image)], check=True)
        return target
    with open(target, "wb") as out:  # the file named, as vendors do: zstd records its size then
        subprocess.run([*TOOLS[packing], str(image)], stdout=out, check=True)
    return target


def compress_zeros(size: str, packing: str, target: Path) -> Path:
    """`size` zero bytes (`head -c` sizes: 10G) compressed: a bomb, for most purposes."""
    with open(target, "wb") as out:
        head = subprocess.Popen(["head", "-c", size, "/dev/zero"], stdout=subprocess.PIPE)
        subprocess.run(TOOLS[packing], stdin=head.stdout, stdout=out, check=True)
        assert head.stdout is not None
        head.stdout.close()
        assert head.wait() == 0
    return target
