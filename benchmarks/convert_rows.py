"""Conversion rows: a qcow2 holding random data converted to raw, durable on both sides."""

from __future__ import annotations

import shlex
from pathlib import Path

from benchmarks.data import qcow2_from, sparse_raw
from benchmarks.group import Command, RowSpec, measure_group
from benchmarks.harness import Row, Runs, Target
from benchmarks.paths import DISKSCOPE, GiB, MiB, size_name


def _our_flags(source: Path, out: Path) -> list[str]:
    """The qemu-img command diskscope itself would run, aimed straight at `out`."""
    from diskscope.core.convert.plan import plan_conversion
    from diskscope.core.convert.request import ConvertRequest
    from diskscope.core.qemu.qemu_img import QemuImg

    qemu = QemuImg()
    plan = plan_conversion(ConvertRequest(source, out, "raw"), qemu)
    argv = [str(arg) for arg in qemu.command(qemu.convert_args(plan.spec))]
    argv[-1] = str(out)
    return argv


def convert_rows(
    work: Path, inputs: Path, virtual: int, data: int, runs: Runs, startup: float, memory: bool
) -> list[Row]:
    size = size_name(virtual, data)
    raw = sparse_raw(work / "source.raw", virtual, data)
    source = qcow2_from(raw, inputs / "source.qcow2")
    raw.unlink()
    outputs = work / "out"
    outputs.mkdir()
    out = outputs / "out.raw"
    sync = f"sync {shlex.quote(str(out))} {shlex.quote(str(outputs))}"
    ours = [DISKSCOPE, "convert", str(source), str(out), "-O", "raw", "-q"]
    naive = shlex.join(["qemu-img", "convert", "-O", "raw", str(source), str(out)])
    flags = _our_flags(source, out)
    commands = [
        Command("ours", "diskscope convert -O raw (default verification)", ours, out, (source,)),
        Command("no-verify", "diskscope convert -O raw --no-verify", [*ours, "--no-verify"], out, (source,)),
        Command("naive", "qemu-img convert -O raw SRC OUT && sync OUT", f"{naive} && {sync}", out, (source,)),
        Command("flags", f"qemu-img convert {shlex.join(flags[2:-2])} SRC OUT && sync OUT",
                f"{shlex.join(flags)} && {sync}", out, (source,)),
    ]  # fmt: skip
    made = (f"qcow2 of {virtual // GiB} GiB virtual holding {data // MiB} MiB of random data in 8 "
            "extents, read from the page cache; raw output, written sparse")  # fmt: skip
    specs = [
        RowSpec(f"convert {size}", "ours", "naive", Target("<= 1.00", "ratio", 1.00), made),
        RowSpec(f"default verification {size}", "ours", "no-verify",
                Target("<= 1.10 (verification <= 10% of the conversion)", "ratio", 1.10), made),
        RowSpec(f"wrapper constant {size}", "no-verify", "flags",
                Target(f"A - B < 50 ms beyond Python's start-up ({startup * 1000:.0f} ms)", "gap", 0.050),
                made, allowance=startup),
    ]  # fmt: skip
    if memory:
        specs.append(RowSpec(f"peak memory, convert {size}", "ours", None,
                             Target("flat, < 150 MB RSS", "under", 150), made, memory=True))  # fmt: skip
    return measure_group(commands, specs, outputs, runs)
