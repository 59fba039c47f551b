"""`diskscope` as a user runs it: in this process through `main(argv)` with the streams
captured, or as a real process."""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from diskscope.core.cli import main


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(*args: str | Path) -> Ran:
    """`diskscope ARGS` in this process; argparse's exits (errors, --help) give their status."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return Ran(code, out.getvalue(), err.getvalue())


def spawn(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "diskscope", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip


def assert_one_sentence(stderr: str) -> None:
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("diskscope: ")
