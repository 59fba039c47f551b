"""Process helpers shared by the core and GUI tests. No Qt here: tests/core must run without it."""

from __future__ import annotations

import os
from pathlib import Path


def child_pids() -> set[int]:
    """Live child processes of this test process (all its threads)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except OSError:
            continue
    return pids
