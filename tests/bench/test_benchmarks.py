"""The benchmark harness itself: what it calls durable is durable, noisy rows are re-run and
reported, and a quick run never touches the committed report."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `benchmarks`: a folder, not installed
from benchmarks.durable import Reset, trace
from benchmarks.fileserver import FileServer
from benchmarks.harness import Row, Runs, Target, with_reruns
from benchmarks.paths import DISKSCOPE
from benchmarks.report import START, summary, table, write

ROOT = Path(__file__).resolve().parents[2]
REPORT = Target("report")

pytestmark = pytest.mark.skipif(
    subprocess.run(
        ["strace", "-f", "--seccomp-bpf", "-o", "/dev/null", "true"], capture_output=True
    ).returncode,
    reason="strace cannot trace here",
)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    source = tmp_path / "source.bin"
    source.write_bytes(os.urandom(1 << 20))
    out = tmp_path / "out"
    out.mkdir()
    return source, out


def test_a_copy_that_leaves_its_data_in_the_page_cache_is_not_durable(folders: tuple[Path, Path]) -> None:
    source, out = folders
    found = trace(["cp", str(source), str(out / "copy")], out / "copy")
    assert not found.durable
    assert source in found.reads  # what it read is warmed before each timed run
    assert not any(p.is_relative_to(out) for p in found.reads)


def test_syncing_the_output_and_its_folder_is_durable(folders: tuple[Path, Path]) -> None:
    source, out = folders
    copy = shlex.quote(str(out / "copy"))
    assert trace(
        f"cp {shlex.quote(str(source))} {copy} && sync {copy} {shlex.quote(str(out))}", out / "copy"
    ).durable
    assert not trace(
        f"cp {shlex.quote(str(source))} {copy} && sync {copy}", out / "copy"
    ).durable  # no folder


def test_an_fsync_counts_for_the_name_a_rename_or_link_gives_the_file(folders: tuple[Path, Path]) -> None:
    _, out = folders
    write_part = (
        "import os\n"
        f"os.chdir({str(out)!r})\n"  # relative names: the trace must follow the working folder
        "fd = os.open('final.part', os.O_WRONLY | os.O_CREAT, 0o600); os.write(fd, b'data')\n"
        "{sync_part}os.close(fd)\n"
        "{move}\n"
        "d = os.open('.', os.O_RDONLY); os.fsync(d)\n"
    )

    def traced(sync_part: bool, move: str) -> bool:
        code = write_part.replace("{sync_part}", "os.fsync(fd); " if sync_part else "").replace(
            "{move}", move
        )
        try:
            return trace(_python(code), out / "final").durable
        finally:
            for name in os.listdir(out):
                os.unlink(out / name)

    assert traced(True, "os.rename('final.part', 'final')")
    assert traced(
        True, "d0 = os.open('.', os.O_RDONLY); os.link('final.part', 'final', src_dir_fd=d0, dst_dir_fd=d0)"
    )
    assert not traced(False, "os.rename('final.part', 'final')")
    # a synced file renamed away, and an unsynced one put in its place
    assert not traced(
        True, "os.rename('final.part', 'final'); open('other', 'w').write('x'); os.rename('other', 'final')"
    )


def test_diskscope_convert_and_fetch_fsync_what_they_make(tmp_path: Path) -> None:
    """The benchmark's claim that our side is durable by itself, played on the real commands."""
    source = tmp_path / "source.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "8M"], check=True)
    out = tmp_path / "out"
    out.mkdir()
    converted = trace([DISKSCOPE, "convert", str(source), str(out / "disk.raw"), "-O", "raw", "-q"],
                      out / "disk.raw")  # fmt: skip
    assert converted.durable
    assert source in converted.reads
    served = tmp_path / "served"
    served.mkdir()
    payload = os.urandom(1 << 20)
    (served / "image.raw").write_bytes(payload)
    with FileServer(served) as server:
        fetched = trace([DISKSCOPE, "fetch", server.url("image.raw"), str(out / "image.raw"), "--keep-format",
                         "--checksum", f"sha512:{hashlib.sha512(payload).hexdigest()}", "-q"], out / "image.raw")  # fmt: skip
    assert fetched.durable
    assert (out / "image.raw").read_bytes() == payload


def test_reset_clears_the_outputs_and_reads_the_next_commands_inputs(folders: tuple[Path, Path]) -> None:
    source, out = folders
    (out / "left.part").write_bytes(b"x")
    Reset(out, {"a": (source,)}, drop=False)("a")
    assert out.is_dir() and not any(out.iterdir())


def _row(a: list[float], b: list[float], target: Target = REPORT) -> Row:
    return Row("row", "ours", "theirs", target, "data", a=a, b=b)


def test_a_row_is_noisy_when_a_sides_max_is_over_twice_its_min() -> None:
    assert not _row([1.0, 2.0], [1.0, 1.5]).noisy
    assert _row([1.0, 2.01], [1.0, 1.5]).noisy
    assert _row([1.0, 1.1], [0.4, 0.9]).noisy


def test_noisy_rows_are_run_again_and_the_last_attempt_is_kept() -> None:
    attempts = [
        [_row([1.0, 3.0], [1.0, 1.0])],
        [_row([0.5, 2.0], [1.0, 1.0])],
        [_row([2.0, 2.2], [1.0, 1.0])],
    ]
    rows = with_reruns(lambda: attempts.pop(0), Runs(rounds=2, reruns=2))
    assert rows[0].a == [2.0, 2.2] and rows[0].reruns == 2 and not rows[0].noisy
    assert [e["a_median"] for e in rows[0].earlier] == [2.0, 1.25]

    stays = with_reruns(lambda: [_row([1.0, 3.0], [1.0, 1.0])], Runs(rounds=2, reruns=1))
    assert stays[0].noisy and stays[0].reruns == 1
    assert "Rows that stayed noisy (max over twice min, after any re-runs): row." in summary(stays)
    assert "re-run 1x, **noisy**" in table(stays)

    late = with_reruns(
        lambda: [_row([1.0, 3.0], [1.0, 1.0])], Runs(rounds=2, reruns=2, deadline=time.monotonic())
    )
    assert late[0].reruns == 0 and late[0].out_of_time
    assert "| 2, not re-run (time budget), **noisy** |" in table(late)


def test_targets_are_judged_on_the_medians() -> None:
    assert _row([1.0, 1.1, 5.0], [1.0], Target("<= 1.10", "ratio", 1.10)).met is True
    assert _row([1.2], [1.0], Target("<= 1.10", "ratio", 1.10)).met is False
    row = _row([0.30], [0.10], Target("gap", "gap", 0.050))
    row.allowance = 0.16
    assert row.met is True  # 0.30 - 0.10 - 0.16 = 40 ms
    row.allowance = 0.14
    assert row.met is False
    assert _row([140.0], [], Target("< 150 MB", "under", 150)).met is True
    assert _row([1.0], [1.0]).met is None


def test_a_full_run_replaces_only_the_marked_block(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "performance.md"
    doc.parent.mkdir()
    doc.write_text(
        f"# Performance\n\nprose before\n\n{START}\nold table\n<!-- results:end -->\n\nprose after\n"
    )
    write([_row([2.0, 2.1], [1.0, 1.1], Target("<= 1.00", "ratio", 1.0))], {"cores": "2"}, tmp_path)
    text = doc.read_text()
    assert "old table" not in text and "prose before" in text and "prose after" in text
    assert (
        "| row | ours | theirs | 2.050 s (2.000 to 2.100) | 1.050 s (1.000 to 1.100) | 1.95 | <= 1.00 | **no** | 2 |"
        in text
    )
    assert (tmp_path / "benchmarks" / "results" / "latest.json").is_file()


def test_a_quick_run_leaves_the_committed_report_alone(tmp_path: Path) -> None:
    report = {Path("docs/performance.md"): b"# Performance\n\n<!-- results:start -->\nthe lead's table\n"
              b"<!-- results:end -->\n", Path("benchmarks/results/latest.json"): b'{"rows": []}\n'}  # fmt: skip
    for name, content in report.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    before = {name: os.stat(tmp_path / name).st_mtime_ns for name in report}
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "inspect",
                           "--report-dir", str(tmp_path), "--workdir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "| inspect one | diskscope info --json |" in done.stdout  # it did run rows
    for name, content in report.items():
        assert (tmp_path / name).read_bytes() == content
        assert os.stat(tmp_path / name).st_mtime_ns == before[name]
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()) == sorted(report)
