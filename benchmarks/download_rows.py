"""Download rows over loopback from a sendfile server, durable on both sides: a download
checked with sha512, and fetch-to-raw from a qcow2 and from a raw image."""

from __future__ import annotations

import hashlib
import shlex
from pathlib import Path

from benchmarks.data import qcow2_from, sparse_raw
from benchmarks.fileserver import FileServer
from benchmarks.group import Command, RowSpec, measure_group
from benchmarks.harness import Row, Runs, Target
from benchmarks.paths import DISKSCOPE, MiB, size_name


def _sha512(path: Path) -> str:
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        while block := f.read(8 * MiB):
            digest.update(block)
    return digest.hexdigest()


def _sync(out: Path) -> str:
    return f"sync {shlex.quote(str(out))} {shlex.quote(str(out.parent))}"


def download_rows(
    work: Path, served: Path, size: int, runs: Runs, verify_row: bool, memory: bool
) -> list[Row]:
    image = sparse_raw(served / "image.raw", size, size, pieces=1)
    sha512 = _sha512(image)
    outputs = work / "out"
    got = outputs / "image.raw"
    name = size_name(size)
    made = f"{name} of random data over loopback from a sendfile server, served from the page cache"
    with FileServer(served) as server:
        url = server.url("image.raw")
        commands = [
            Command("ours", "diskscope fetch --keep-format --checksum sha512:…",
                    [DISKSCOPE, "fetch", url, str(got), "--keep-format", "--checksum", f"sha512:{sha512}", "-q"],
                    got, (image,)),
            Command("curl", "curl -o OUT && sync OUT", f"curl -sf -o {shlex.quote(str(got))} {url} && {_sync(got)}",
                    got, (image,)),
        ]  # fmt: skip
        specs = [RowSpec(f"download {name}, sha512 in the same pass", "ours", "curl",
                         Target("<= 1.10", "ratio", 1.10), made)]  # fmt: skip
        if verify_row:
            check = f"echo {sha512}'  '{shlex.quote(str(got))} | sha512sum -c --quiet"
            commands.append(Command("curl+sha512sum", "curl -o OUT && sha512sum -c && sync OUT",
                                    f"curl -sf -o {shlex.quote(str(got))} {url} && {check} && {_sync(got)}",
                                    got, (image,)))  # fmt: skip
            specs.append(RowSpec(f"download and verify {name}", "ours", "curl+sha512sum",
                                 Target("report (one pass against two)"), made))  # fmt: skip
        if memory:
            specs.append(RowSpec(f"peak memory, download {name}", "ours", None,
                                 Target("flat, < 150 MB RSS", "under", 150), made, memory=True))  # fmt: skip
        return measure_group(commands, specs, outputs, runs)


def fetch_to_raw_rows(work: Path, served: Path, virtual: int, data: int, runs: Runs) -> list[Row]:
    """The same disk served as qcow2 and as (sparse) raw, fetched to a raw file."""
    raw = sparse_raw(served / "cloud.raw", virtual, data)
    qcow2 = qcow2_from(raw, served / "cloud.qcow2")
    outputs = work / "out"
    out, tmp = outputs / "cloud.raw", outputs / "download.tmp"
    size = size_name(virtual, data)
    commands, specs = [], []
    with FileServer(served) as server:
        for source in (qcow2, raw):
            fmt = source.suffix.lstrip(".")
            url = server.url(source.name)
            ours = [
                DISKSCOPE,
                "fetch",
                url,
                str(out),
                "--to-raw",
                "--checksum",
                f"sha512:{_sha512(source)}",
                "-q",
            ]
            q = {p: shlex.quote(str(p)) for p in (tmp, out)}
            shell = (f"curl -sf -o {q[tmp]} {url} && qemu-img info {q[tmp]} >/dev/null && "
                     f"qemu-img convert -O raw {q[tmp]} {q[out]} && rm {q[tmp]} && {_sync(out)}")  # fmt: skip
            commands += [
                Command(f"ours-{fmt}", "diskscope fetch --to-raw --checksum sha512:…", ours, out, (source,)),
                Command(f"shell-{fmt}", "curl -o TMP && qemu-img info TMP && qemu-img convert -O raw "
                        "TMP OUT && sync OUT", shell, out, (source,)),
            ]  # fmt: skip
            made = (f"{fmt} of {size_name(virtual)} virtual holding {data // MiB} MiB of random data, "
                    f"served as a {size_name(source.stat().st_size)} file from the page cache")  # fmt: skip
            specs.append(RowSpec(f"fetch to raw, {fmt} source {size}", f"ours-{fmt}", f"shell-{fmt}",
                                 Target("<= 1.00", "ratio", 1.00), made))  # fmt: skip
        return measure_group(commands, specs, outputs, runs)
