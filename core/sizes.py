"""Byte counts for people: binary units via humanize, exact bytes beside them."""

from __future__ import annotations

import humanize


def human_size(n: int | None) -> str:
    """`64.0 MiB`; `unknown` for None."""
    if n is None:
        return "unknown"
    if n < 1024:
        return f"{n} B"
    return str(humanize.naturalsize(n, binary=True, format="%.1f"))


def exact_size(n: int | None) -> str:
    """`67,108,864 bytes`, for tooltips and the CLI."""
    return "unknown" if n is None else f"{n:,} bytes"


def size_with_exact(n: int | None) -> str:
    return "unknown" if n is None else f"{human_size(n)} ({exact_size(n)})"
