"""Watch qemu-img under strace: which files does `info` open or look at?

The same command lines the safety gate runs: `info -f FORMAT`, or `info` with qemu's own
probe (no -f), which the gate runs on files our inspector calls raw.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


def strace_info(image: Path, fmt: str | None) -> list[str]:
    """strace's lines for `qemu-img info` on `image`, told `fmt` or probing when None."""
    log = image.parent / f"{image.name}.strace"
    told = ["-f", fmt] if fmt else []
    subprocess.run(
        ["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(log), "prlimit", "--cpu=10",
         f"--as={2 << 30}", "--", "qemu-img", "info", *told, "-U", "--output=json", str(image)],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    lines = log.read_text(errors="replace").splitlines()
    log.unlink()
    return lines


def touched(lines: list[str]) -> set[str]:
    """Every path named in the traced calls."""
    return {m.replace('\\"', '"') for line in lines for m in _QUOTED.findall(line)}


def others_touched(image: Path, lines: list[str]) -> set[str]:
    """Paths in the image's folder, other than the image, that qemu-img opened or looked at."""
    folder = os.path.realpath(image.parent)
    mine = os.path.realpath(image)
    return {
        p
        for p in touched(lines)
        if os.path.isabs(p) and os.path.realpath(p) != mine and os.path.realpath(p).startswith(folder + "/")
    }


def probed_format(image: Path) -> str | None:
    """The format qemu's own probe finds, or None when qemu-img cannot open the file."""
    done = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(image)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return None
    fmt: str = json.loads(done.stdout)["format"]
    return fmt
