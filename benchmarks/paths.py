"""Where the measured programs are, and how sizes are named in row titles."""

from __future__ import annotations

import sys
from pathlib import Path

BIN = Path(sys.executable).parent
DISKSCOPE = str(BIN / "diskscope")
GUI = str(BIN / "diskscope-gui")
HERE = Path(__file__).resolve().parent

MiB = 1024 * 1024
GiB = 1024 * MiB


def size_name(size: int, data: int | None = None) -> str:
    """`4 GiB / 1 GiB data`, `1.5 GiB`, `64 MiB`: how a row's title names its data."""

    def name(n: int) -> str:
        return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"

    return name(size) if data is None else f"{name(size)} / {name(data)} data"
