"""`diskscope info/check/map/measure` as a user runs them: a real process, real images."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from catalogue import (
    gpt_signature_in_530_bytes,
    luks2_deep_json,
    luks2_keyslots_number,
    qcow2_backing_host_path,
    vmdk_huge_sector_count,
)
from imagekit import MiB, create, patch, write_pattern


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "diskscope", *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=300,
    )


def assert_one_sentence(stderr: str) -> None:
    assert stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    assert stderr.startswith("diskscope: ")


def test_info_safe_image_text(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "64M")
    done = run("info", path)
    assert done.returncode == 0, done.stderr
    assert "64.0 MiB (67,108,864 bytes)" in done.stdout
    assert "SAFE" in done.stdout


def test_info_json_shape(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "64M")
    subprocess.run(["qemu-img", "snapshot", "-c", "before upgrade", str(path)], check=True)
    done = run("info", "--json", path)
    assert done.returncode == 0
    data = json.loads(done.stdout)
    assert set(data) >= {
        "path", "format", "virtual_size", "actual_size", "cluster_size", "encrypted", "dirty",
        "backing_file", "data_file", "snapshots", "format_specific", "safe", "violations",
    }  # fmt: skip
    assert data["path"] == str(path)
    assert (data["format"], data["virtual_size"], data["cluster_size"]) == (
        "qcow2",
        64 * MiB,
        65536,
    )
    assert data["safe"] is True and data["violations"] == []
    assert [s["name"] for s in data["snapshots"]] == ["before upgrade"]
    assert set(data["snapshots"][0]) == {"id", "name", "vm_state_size", "date", "vm_clock"}
    assert data["format_specific"]["compat"] == "1.1"


def test_info_unsafe_exits_1_with_violations(tmp_path: Path) -> None:
    path = qcow2_backing_host_path(tmp_path)
    done = run("info", "--json", path)
    assert done.returncode == 1
    data = json.loads(done.stdout)
    assert data["safe"] is False
    assert [v["code"] for v in data["violations"]] == ["backing_file"]
    text = run("info", path)
    assert text.returncode == 1 and "REFUSED" in text.stdout and "/etc/passwd" in text.stdout


def test_info_several_paths_gives_a_list_and_the_worst_exit(tmp_path: Path) -> None:
    good = create(tmp_path / "a.qcow2", "qcow2", "1M")
    bad = qcow2_backing_host_path(tmp_path)
    done = run("info", "--json", good, bad)
    assert done.returncode == 1
    assert [d["safe"] for d in json.loads(done.stdout)] == [True, False]
    missing = run("info", "--json", good, tmp_path / "missing.qcow2")
    assert missing.returncode == 2
    assert [("error" in d) for d in json.loads(missing.stdout)] == [False, True]


def test_errors_are_one_sentence(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    cases = {
        tmp_path / "missing.qcow2": "does not exist",
        tmp_path: "is a directory",
        fifo: "named pipe",
        Path("/dev/zero"): "character device",
        loop: "symbolic link loop",
        dangling: "does not exist",
    }
    for path, words in cases.items():
        done = run("info", path)
        assert done.returncode == 2, path
        assert_one_sentence(done.stderr)
        assert words in done.stderr


def test_missing_qemu_img_is_one_sentence(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    done = run("info", "--qemu-img", tmp_path / "no-qemu-img", path)
    assert done.returncode == 2
    assert_one_sentence(done.stderr)
    assert "apt-get install qemu-utils" in done.stderr


def test_symlink_to_an_image_is_judged_by_its_target(tmp_path: Path) -> None:
    target = qcow2_backing_host_path(tmp_path)
    link = tmp_path / "innocent.img"
    link.symlink_to(target)
    assert run("info", link).returncode == 1


def test_check_keeps_qemu_exit_codes(tmp_path: Path) -> None:
    clean = create(tmp_path / "clean.qcow2", "qcow2", "16M")
    assert run("check", clean).returncode == 0
    leaky = create(tmp_path / "leaky.qcow2", "qcow2", "16M")
    patch(leaky, 131072 + 4, b"\x00\x02")
    done = run("check", "--json", leaky)
    assert done.returncode == 3
    assert json.loads(done.stdout)["leaks"] == 1


def test_check_refuses_unsafe_images(tmp_path: Path) -> None:
    done = run("check", qcow2_backing_host_path(tmp_path))
    assert done.returncode == 2
    assert_one_sentence(done.stderr)
    assert "refused" in done.stderr


def test_map_and_measure(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "16M")
    write_pattern(path, "qcow2", 4 * MiB, MiB)
    extents = json.loads(run("map", "--json", path).stdout)
    assert [(e["start"], e["length"]) for e in extents if e["data"]] == [(4 * MiB, MiB)]
    measured = json.loads(run("measure", "--json", path, "-O", "raw").stdout)
    assert measured["required"] == 16 * MiB


def test_bad_arguments_exit_2_without_traceback() -> None:
    done = run("measure", "x", "-O", "floppy")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr


def _raw(path: Path, size: int, ranges: list[tuple[int, int]]) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
        for offset, length in ranges:
            f.seek(offset)
            f.write(b"\xa5" * length)
    return path


def test_convert_json(tmp_path: Path) -> None:
    source = _raw(tmp_path / "s.raw", 16 * MiB, [(0, MiB)])
    done = run("convert", source, tmp_path / "o.qcow2", "-O", "qcow2", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["format"] == "qcow2" and data["virtual_size"] == 16 * MiB
    assert "qemu-img convert" in data["command"] and "o.qcow2.part" in data["command"]
    again = run("convert", source, tmp_path / "o.qcow2", "-O", "qcow2")
    assert again.returncode == 2 and "exists" in again.stderr
    assert_one_sentence(again.stderr)


def test_convert_preset_and_refused_option(tmp_path: Path) -> None:
    source = _raw(tmp_path / "s.raw", 16 * MiB, [(0, MiB)])
    assert run("convert", source, tmp_path / "o.vhdx", "--preset", "hyperv").returncode == 0
    bad = run("convert", source, tmp_path / "x.qcow2", "-O", "qcow2", "-o", "data_file=/etc/x")
    assert bad.returncode == 2 and "not allowed" in bad.stderr
    assert not (tmp_path / "x.qcow2").exists()


def test_ctrl_c_cancels_cleanly(tmp_path: Path) -> None:
    import signal
    import time

    source = _raw(tmp_path / "s.raw", 128 * MiB, [(i * 16 * MiB, 4 * MiB) for i in range(8)])
    out = tmp_path / "o.qcow2"
    proc = subprocess.Popen(
        [sys.executable, "-m", "diskscope", "convert", str(source), str(out), "-O", "qcow2",
         "--rate-limit", str(2 * MiB), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60  # only to stop a hang
    while not list(tmp_path.glob(".diskscope-*/o.qcow2.part")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the conversion must still be running when Ctrl-C arrives"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.raw"]


def test_info_shows_partition_table_warnings_without_refusing(tmp_path: Path) -> None:
    """An MBR entry with a boot flag that is neither 0 nor 0x80: oslo refuses it, qemu does
    not care; we say it and keep the disk safe."""
    disk = bytearray(1 * MiB)
    disk[446:462] = (
        bytes([0x42, 0, 2, 0, 0x83, 0, 0, 0]) + (2048).to_bytes(4, "little") + (1024).to_bytes(4, "little")
    )
    disk[510:512] = b"\x55\xaa"
    path = tmp_path / "disk.raw"
    path.write_bytes(disk)
    done = run("info", path)
    assert done.returncode == 0, done.stderr
    assert "SAFE" in done.stdout
    assert "warning       Partition entry 1 of the MBR has an invalid boot flag (0x42)." in done.stdout
    data = json.loads(run("info", "--json", path).stdout)
    assert [w["code"] for w in data["warnings"]] == ["partition_table"]
    assert data["violations"] == []


def test_info_batch_reports_every_file_when_some_are_hostile(tmp_path: Path) -> None:
    """Issue 11: inputs that once crashed the inspector cost every report of the batch.
    Each is now one refusal, and every file gets its report."""

    hostile = [make(tmp_path) for make in (gpt_signature_in_530_bytes, luks2_deep_json,
                                          luks2_keyslots_number, vmdk_huge_sector_count)]  # fmt: skip
    good = create(tmp_path / "good.qcow2", "qcow2", "1M")
    done = run("info", good, *hostile)
    assert done.returncode == 1, done.stderr
    assert done.stderr == ""
    reports = done.stdout.split("\n" + str(tmp_path))
    assert len(reports) == 5
    assert done.stdout.count("REFUSED") == 4 and done.stdout.count("SAFE") == 1
    assert "unexpected" not in done.stdout
