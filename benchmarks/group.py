"""A group: commands that write into one output folder, measured in the same rounds, and the
rows drawn from them (a row pairs two commands, or shows one command's peak memory)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from benchmarks.data import RAM
from benchmarks.durable import Reset, trace
from benchmarks.harness import Row, Runs, Sample, Target, rounds_of, run_command, with_reruns

MB = 1_000_000


@dataclass(frozen=True)
class Command:
    key: str
    label: str  # as the table shows it
    argv: list[str] | str  # a str is a shell line
    output: Path  # the file it makes; must be inside the group's output folder
    inputs: tuple[Path, ...] = ()  # files read for it that a trace cannot see (a served file)
    # (inputs in RAM are never dropped and need no reading back)


@dataclass(frozen=True)
class RowSpec:
    name: str
    a: str  # command keys
    b: str | None
    target: Target
    data: str
    memory: bool = False  # the row shows A's peak memory (MB) instead of times
    allowance: float = 0.0


def measure_group(
    commands: list[Command],
    specs: list[RowSpec],
    outputs: Path,
    runs: Runs,
) -> list[Row]:
    """Trace each command once (its warm-up and the durability check), then time them all in
    rotating rounds, re-running the whole group while a row is noisy."""
    reset = Reset(outputs, drop=runs.drop)
    runners = {}
    durability: dict[str, str] = {}
    for command in commands:
        reset()
        found = trace(command.argv, command.output)
        warm = (p for p in (*command.inputs, *found.reads) if not p.is_relative_to(RAM))
        reset.warm[command.key] = tuple(dict.fromkeys(warm))
        argv = command.argv
        if found.durable:
            durability[command.key] = f"{command.label}: fsyncs its output and folder (seen by strace)"
        else:
            line = argv if isinstance(argv, str) else shlex.join(argv)
            argv = f"{line} && sync {shlex.quote(str(command.output))} {shlex.quote(str(outputs))}"
            durability[command.key] = (f"{command.label}: does NOT fsync its output; the harness runs "
                                       "`sync OUTPUT FOLDER` after it, inside the timed run")  # fmt: skip
            print(f"  not durable by itself: {command.label}", file=sys.stderr, flush=True)
        runners[command.key] = partial(run_command, argv)
    labels = {c.key: c.label for c in commands}

    def attempt() -> list[Row]:
        samples = rounds_of(runners, runs.rounds, reset)
        return [_row(spec, samples, labels, durability) for spec in specs]

    return with_reruns(attempt, runs)


def _row(
    spec: RowSpec, samples: dict[str, list[Sample]], labels: dict[str, str], durability: dict[str, str]
) -> Row:
    keys = [spec.a] if spec.b is None else [spec.a, spec.b]
    row = Row(spec.name, labels[spec.a], labels[spec.b] if spec.b else None, spec.target, spec.data,
              allowance=spec.allowance, notes=[durability[k] for k in keys])  # fmt: skip
    if spec.memory:
        row.unit = "MB"
        row.notes = []
        row.a = [s.peak_rss / MB for s in samples[spec.a]]
    else:
        row.a = [s.seconds for s in samples[spec.a]]
        row.b = [s.seconds for s in samples[spec.b]] if spec.b else []
    return row
