"""A compressed cloud image fetched, verified and decompressed in one pass, against the shell
pipeline an admin would write (which inspects nothing); durable on both sides."""

from __future__ import annotations

import hashlib
import shlex
import subprocess
from pathlib import Path

from benchmarks.data import sparse_raw
from benchmarks.fileserver import FileServer
from benchmarks.group import Command, RowSpec, measure_group
from benchmarks.harness import Row, Runs, Target
from benchmarks.paths import DISKSCOPE, MiB, size_name


def packed_rows(work: Path, served: Path, virtual: int, data: int, runs: Runs) -> list[Row]:
    raw = sparse_raw(work / "cloud.raw", virtual, data)
    packed = served / "cloud.raw.xz"
    with open(packed, "wb") as out:
        subprocess.run(["xz", "-z", "-c", "-0", "-T2", str(raw)], stdout=out, check=True)
    raw.unlink()
    digest = hashlib.sha256(packed.read_bytes()).hexdigest()
    outputs = work / "out"
    got = outputs / "cloud.raw"
    made = (f"{size_name(virtual, data)} raw, xz -0 to {packed.stat().st_size // MiB} MiB, over loopback; "
            "the published sha256 is of the compressed file")  # fmt: skip
    with FileServer(served) as server:
        url = server.url(packed.name)
        shell = f"curl -sf {url} | tee >(sha256sum >/dev/null) | xz -d > {shlex.quote(str(got))}"
        commands = [
            Command("ours", "diskscope fetch X.raw.xz --keep-format --checksum sha256:…",
                    [DISKSCOPE, "fetch", url, str(got), "--keep-format", "--checksum", f"sha256:{digest}", "-q"],
                    got, (packed,)),
            Command("pipeline", "curl | tee >(sha256sum) | xz -d > OUT", ["bash", "-c", shell], got, (packed,)),
        ]  # fmt: skip
        specs = [RowSpec(f"fetch .raw.xz {size_name(virtual, data)}", "ours", "pipeline",
                         Target("report (ours also inspects and writes sparse)"), made)]  # fmt: skip
        return measure_group(commands, specs, outputs, runs)
