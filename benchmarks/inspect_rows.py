"""Inspection rows: nothing is written, so no cache is dropped; every file read is cached."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.data import many_small_qcow2
from benchmarks.harness import Row, Runs, Sample, Target, rounds_of, run_command, with_reruns
from benchmarks.paths import DISKSCOPE


def _timed(fn: Callable[[], object]) -> Sample:
    started = time.perf_counter()
    fn()
    return Sample(time.perf_counter() - started, 0)


def _pair(row: Row, a: Callable[[], Sample], b: Callable[[], Sample], rounds: int) -> Row:
    """One warm-up of each, then `rounds` rotating rounds."""
    a(), b()
    samples = rounds_of({"a": a, "b": b}, rounds, lambda _key: None)
    row.a = [s.seconds for s in samples["a"]]
    row.b = [s.seconds for s in samples["b"]]
    return row


def inspect_rows(work: Path, count: int, runs: Runs) -> list[Row]:
    rounds = runs.rounds
    folder = work / "folder"
    paths = many_small_qcow2(folder, count)
    one = str(paths[0])
    names = [str(p) for p in paths]
    loop = f'for f in {folder}/*; do qemu-img info --output=json "$f" >/dev/null; done'

    from diskscope.core.inspect.inspector import inspect_file
    from oslo_utils.imageutils import format_inspector

    def ours() -> None:
        for p in paths:
            inspect_file(p)

    def oslo() -> None:
        for p in paths:
            format_inspector.detect_file_format(str(p)).safety_check()  # type: ignore[union-attr]

    def attempt() -> list[Row]:
        return [
            _pair(Row("inspect one", "diskscope info --json", "qemu-img info --output=json",
                      Target("report"), "one empty 1 GiB qcow2"),
                  lambda: run_command([DISKSCOPE, "info", "--json", one]),
                  lambda: run_command(["qemu-img", "info", "--output=json", one]), rounds * 2),
            _pair(Row(f"inspect a folder of {count} images", "diskscope info --json DIR/*",
                      "a shell loop of qemu-img info", Target("<= 0.5", "ratio", 0.5),
                      f"{count} empty 1 GiB qcow2 files"),
                  lambda: run_command([DISKSCOPE, "info", "--json", *names]), lambda: run_command(loop),
                  rounds),
            _pair(Row(f"inspector alone, {count} headers", "our inspector (in process)",
                      "oslo.utils detect_file_format + safety_check", Target("report"),
                      f"{count} qcow2 files"),
                  lambda: _timed(ours), lambda: _timed(oslo), rounds),
        ]  # fmt: skip

    return with_reruns(attempt, runs)
