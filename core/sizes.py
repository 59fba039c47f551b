"""Byte counts for people: binary units via humanize, exact bytes beside them."""

from __future__ import annotations

import re


def human_size(n: int | None) -> str:
    """`64.0 MiB`; `unknown` for None."""
    if n is None:
        return "unknown"
    if n < 1024:
        return f"{n} B"
    import humanize  # only where sizes are shown: not every command's start-up pays for it

    return str(humanize.naturalsize(n, binary=True, format="%.1f"))


def exact_size(n: int | None) -> str:
    """`67,108,864 bytes`, for tooltips and the CLI."""
    return "unknown" if n is None else f"{n:,} bytes"


def size_with_exact(n: int | None) -> str:
    return "unknown" if n is None else f"{human_size(n)} ({exact_size(n)})"


_UNITS = "BKMGTPE"  # qemu-img's suffixes: bytes, then powers of 1024
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([KMGTPE])(?:i?B)?|B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from a size as typed: `20G`, `64K`, `1.5T`, `512MiB`, `10MB` or plain bytes.

    Binary units (K/M/G/T/P/E, optionally followed by `B` or `iB`) as qemu-img reads them;
    a fraction needs a unit. ValueError (one sentence) for anything else, or for zero.
    """
    match = _SIZE.match(text)
    if match is None or ("." in match[1] and not match[2]):
        raise ValueError(f"{text!r} is not a size; write it as 20G, 512M or a number of bytes.")
    scale = 1 << (10 * _UNITS.index((match[2] or "B").upper()))
    whole, _, fraction = match[1].partition(".")
    value: int = int(whole) * scale + int(fraction or "0") * scale // 10 ** len(fraction)
    if value <= 0:
        raise ValueError(f"{text!r} is not a size greater than zero.")
    return value
