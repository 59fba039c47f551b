"""Upload rows: `diskscope glance upload` to a real Glance 33 on 127.0.0.1 (the tests'
tests/glance/server.py; its venv from DISKSCOPE_GLANCE_VENV or .cache/glance-venv), against
what people script by hand: a POST for the record, then `curl -T` of the file, with no hash
of its own and no check of Glance's record."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import requests

from benchmarks.data import sparse_raw
from benchmarks.harness import Row, Runs, Sample, Target, rounds_of, run_command, with_reruns
from benchmarks.paths import DISKSCOPE, size_name

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-glance-token"


def upload_rows(work: Path, size: int, runs: Runs) -> list[Row]:
    sys.path.insert(0, str(ROOT / "tests" / "glance"))
    import server as glance_server

    venv = Path(os.environ.get("DISKSCOPE_GLANCE_VENV", ROOT / ".cache" / "glance-venv"))
    glance_server.install(venv)
    image = sparse_raw(work / "upload.raw", size, size, pieces=1)
    glance = glance_server.start(venv, work / "glance", TOKEN)
    endpoint, headers = glance.endpoint, {"X-Auth-Token": TOKEN}

    def reset(_key: str | None) -> None:  # the store keeps every upload: delete them between runs
        listed = requests.get(f"{endpoint}/v2/images", headers=headers, timeout=60).json()["images"]
        for found in listed:
            requests.delete(f"{endpoint}/v2/images/{found['id']}", headers=headers, timeout=60)

    def curl() -> Sample:
        started = time.perf_counter()
        created = requests.post(f"{endpoint}/v2/images", headers=headers, timeout=60,
                                json={"name": "bench", "disk_format": "raw", "container_format": "bare"})  # fmt: skip
        sent = run_command(["curl", "-sf", "-T", str(image), "-H", f"X-Auth-Token: {TOKEN}", "-H",
                            "Content-Type: application/octet-stream",
                            f"{endpoint}/v2/images/{created.json()['id']}/file"])  # fmt: skip
        return Sample(time.perf_counter() - started, sent.peak_rss)

    def ours(method: str) -> Sample:
        argv = [DISKSCOPE, "glance", "upload", str(image), "--endpoint", endpoint, "--name", "bench",
                "--method", method, "-q", "--token", TOKEN]  # fmt: skip
        return run_command(argv)

    made = f"{size_name(size)} of random data, raw, to Glance 33 (file store) on loopback"
    runners = {"put": lambda: ours("put"), "glance-direct": lambda: ours("glance-direct"), "curl": curl}
    label = "diskscope glance upload --method {} (gate, sha512, checks)"

    def attempt() -> list[Row]:
        samples = rounds_of(runners, runs.rounds, reset)
        rows = []
        for method, target in (
            ("put", Target("<= 1.15", "ratio", 1.15)),
            ("glance-direct", Target("report")),
        ):
            row = Row(
                f"upload {size_name(size)} ({method})", label.format(method), "POST + curl -T", target, made
            )
            row.a = [s.seconds for s in samples[method]]
            row.b = [s.seconds for s in samples["curl"]]
            rows.append(row)
        return rows

    try:
        return with_reruns(attempt, runs)
    finally:
        glance.stop()
