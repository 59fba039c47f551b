"""`diskscope` as a user runs it, on real images: in-process through `main(argv)` with the
streams captured, and a real process where the process boundary is what is tested (signals,
the window fall-through)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from catalogue import (
    gpt_signature_in_530_bytes,
    luks2_deep_json,
    luks2_keyslots_number,
    qcow2_backing_host_path,
    vmdk_huge_sector_count,
)
from clikit import assert_one_sentence, run
from diskscope.core.cli import ExitCode
from diskscope.core.sizes import parse_size
from httpserver import ImageServer
from imagekit import MiB, create, patch, write_pattern


def spawn(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "diskscope", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300)  # fmt: skip


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


def test_check_exit_status_means_what_it_means_elsewhere(tmp_path: Path) -> None:
    """Leaks were qemu-img's 3: now 1 (the check found a problem), qemu-img's code in --json."""
    clean = create(tmp_path / "clean.qcow2", "qcow2", "16M")
    assert run("check", clean).returncode == ExitCode.OK
    leaky = create(tmp_path / "leaky.qcow2", "qcow2", "16M")
    patch(leaky, 131072 + 4, b"\x00\x02")
    done = run("check", "--json", leaky)
    assert done.returncode == ExitCode.REFUSED
    assert json.loads(done.stdout)["leaks"] == 1 and json.loads(done.stdout)["exit_code"] == 3


def test_a_refused_image_exits_1_in_every_command(tmp_path: Path) -> None:
    """convert (and fetch, below) exited 2 for a refused image, as for any error."""
    hostile = qcow2_backing_host_path(tmp_path)
    for argv in (["check", hostile], ["map", hostile], ["measure", hostile, "-O", "raw"],
                 ["convert", hostile, tmp_path / "out.raw", "-O", "raw"]):  # fmt: skip
        done = run(*argv)
        assert done.returncode == ExitCode.REFUSED, argv
        assert_one_sentence(done.stderr)
        assert "refused" in done.stderr and done.stdout == ""
    assert not (tmp_path / "out.raw").exists()


def test_a_refused_download_exits_1_and_a_network_error_2(server: ImageServer, tmp_path: Path) -> None:
    """A process of its own: in this one, the server thread's report of the connection the
    refusal cut would land in the captured stderr."""
    hostile = qcow2_backing_host_path(tmp_path)
    server.files["hostile.qcow2"] = hostile.read_bytes()
    refused = spawn("fetch", server.url("hostile.qcow2"), tmp_path / "a.raw", "--unverified", "-q")
    assert refused.returncode == ExitCode.REFUSED, refused.stderr
    assert_one_sentence(refused.stderr)
    assert "refused" in refused.stderr
    missing = spawn("fetch", server.url("missing.qcow2"), tmp_path / "b.raw", "--unverified", "-q")
    assert missing.returncode == ExitCode.ERROR, missing.stderr
    assert_one_sentence(missing.stderr)
    assert not (tmp_path / "a.raw").exists() and not (tmp_path / "b.raw").exists()


def test_map_and_measure(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "16M")
    write_pattern(path, "qcow2", 4 * MiB, MiB)
    extents = json.loads(run("map", "--json", path).stdout)
    assert [(e["start"], e["length"]) for e in extents if e["data"]] == [(4 * MiB, MiB)]
    measured = json.loads(run("measure", "--json", path, "-O", "raw").stdout)
    assert measured["required"] == 16 * MiB


def test_bad_arguments_exit_2_without_traceback() -> None:
    done = run("measure", "x", "-O", "floppy")
    assert done.returncode == ExitCode.ERROR
    assert "Traceback" not in done.stderr
    assert done.stderr.endswith(
        "diskscope measure: error: argument -O: 'floppy' is not a disk image format Diskscope knows.\n"
    )


def test_an_unknown_command_is_an_error_with_a_hint(tmp_path: Path) -> None:
    """`diskscope infoo x` opened a window."""
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    done = run("infoo", path)
    assert done.returncode == ExitCode.ERROR and done.stdout == ""
    assert done.stderr.endswith(
        "diskscope: error: argument COMMAND: invalid choice: 'infoo'; did you mean 'info'?\n"
    )
    far = run("nothing-like-it", path)
    assert far.returncode == ExitCode.ERROR and "choose from 'info', 'check'" in far.stderr


def test_a_misplaced_or_mistyped_option_is_an_error_with_a_hint(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    done = run("info", "--jsn", path)
    assert done.returncode == ExitCode.ERROR and done.stdout == ""
    assert done.stderr.endswith(
        "diskscope info: error: unrecognized arguments: --jsn; did you mean --json?\n"
    )
    window_only = run("info", "--theme", "dark", path)
    assert window_only.returncode == ExitCode.ERROR and window_only.stderr.endswith(
        "unrecognized arguments: --theme\n"
    )
    choice = run("convert", path, tmp_path / "o", "-O", "qcow3")
    assert choice.returncode == ExitCode.ERROR and "did you mean 'qcow2'?" in choice.stderr


def test_global_options_go_before_the_command_too(tmp_path: Path) -> None:
    """`diskscope -v info x` said "diskscope-gui: error: unrecognized arguments: -v"."""
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    verbose = run("-v", "info", path)
    assert verbose.returncode == ExitCode.OK, verbose.stderr
    assert "SAFE" in verbose.stdout and "INFO diskscope.core.qemu.qemu_img: running" in verbose.stderr
    assert run("info", path).stderr == ""
    before = run("--qemu-img", tmp_path / "no-qemu-img", "info", path)
    after = run("info", "--qemu-img", tmp_path / "no-qemu-img", path)
    assert before.returncode == after.returncode == ExitCode.ERROR
    assert before.stderr == after.stderr and "apt-get install qemu-utils" in before.stderr


def test_help_documents_the_exit_status() -> None:
    done = run("--help")
    assert done.returncode == 0
    status = done.stdout.split("exit status:\n", 1)[1]
    for code in ExitCode:
        assert f"  {code.value} " in status


def test_sizes_take_qemu_img_suffixes() -> None:
    assert parse_size("64K") == parse_size("64k") == parse_size("64KiB") == parse_size("64KB") == 65536
    assert parse_size("10M") == 10 * MiB and parse_size(" 1.5T ") == 3 << 39
    assert parse_size("2P") == 2 << 50 and parse_size("1E") == 1 << 60 and parse_size("512B") == 512
    assert parse_size("512") == 512
    for bad in ("", "20X", "G", "-1G", "0", "0K", "1e9", "1.5", "1.5B", "10 MiBs"):
        with pytest.raises(ValueError, match="is not a size"):
            parse_size(bad)


def test_size_options_take_suffixes(tmp_path: Path) -> None:
    path = create(tmp_path / "a.qcow2", "qcow2", "16M")
    write_pattern(path, "qcow2", 0, 2 * MiB)
    extents = json.loads(run("map", "--json", "--max-length", "1M", path).stdout)
    assert sum(e["length"] for e in extents) == MiB
    done = run("convert", path, tmp_path / "o.qcow2", "-O", "qcow2", "--cluster-size", "128K",
               "--rate-limit", "64M", "-q")  # fmt: skip
    assert done.returncode == ExitCode.OK, done.stderr
    assert json.loads(run("info", "--json", tmp_path / "o.qcow2").stdout)["cluster_size"] == 128 * 1024
    bad = run("convert", path, tmp_path / "x.qcow2", "-O", "qcow2", "--rate-limit", "10Q")
    assert bad.returncode == ExitCode.ERROR and "'10Q' is not a size" in bad.stderr


def test_files_and_window_options_open_the_window(tmp_path: Path) -> None:
    """A real process: with no display, the window's own one sentence says it was the window."""
    path = create(tmp_path / "a.qcow2", "qcow2", "1M")
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    for argv in ([path], ["--theme", "dark", path], ["--new-instance"]):
        done = spawn(*argv, env=env)
        assert done.returncode == 2 and "there is no display here" in done.stderr, (argv, done.stderr)
    typo = spawn("infoo", path, env=env)
    assert typo.returncode == 2 and "did you mean 'info'?" in typo.stderr


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
    assert again.returncode == ExitCode.ERROR and "exists" in again.stderr
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
         "--rate-limit", "2M", "-q"],
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


def test_the_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    done = run("--version")
    assert (done.returncode, done.stdout) == (0, f"diskscope {version('diskscope')}\n")


def test_bash_completion_works_in_bash(tmp_path: Path) -> None:
    """A real bash sources the script, registers it, and completes commands, options and values."""
    (tmp_path / "disk.qcow2").touch()
    cases = [["inf"], ["-v", "conv"], ["info", "--js"], ["convert", "a", "b", "--preset", "hyp"],
             ["convert", "a", "b", "-O", "qc"], ["glance", "l"], ["glance", "list", "--disk-f"],
             ["completion", "fi"], ["disk.q"]]  # fmt: skip
    script = "\n".join([
        f"source <({sys.executable} -m diskscope completion bash) && complete -p diskscope",
        't() { COMP_WORDS=(diskscope "$@"); COMP_CWORD=$#; COMPREPLY=(); _diskscope; echo "${COMPREPLY[*]}"; }',
        *("t " + " ".join(case) for case in cases),
    ])  # fmt: skip
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.stderr == ""
    assert done.stdout.splitlines() == [
        "complete -o filenames -F _diskscope diskscope",
        "info", "convert", "--json", "hyperv", "qcow2", "list", "--disk-format", "fish", "disk.qcow2",
    ]  # fmt: skip


def test_fish_completion_works_in_fish(tmp_path: Path) -> None:
    """A real fish loads the script and answers `complete -C` as it does at a prompt."""
    (tmp_path / "disk.qcow2").touch()
    script = tmp_path / "diskscope.fish"
    script.write_text(run("completion", "fish").stdout)
    cases = ["conv", "--qemu", "disk.q", "info --js", "info disk.q", "convert a b --preset hyp",
             "convert a b -O qc", "glance l", "glance list --disk-f", "completion fi"]  # fmt: skip
    lines = [f"source {script}", *(f'complete -C "diskscope {case}"; echo ---' for case in cases)]
    done = subprocess.run(["fish", "--no-config", "-c", "\n".join(lines)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)  # fmt: skip
    assert done.stderr == ""
    answers = [
        [line.split("\t")[0] for line in block.strip().splitlines()] for block in done.stdout.split("---")
    ]
    assert answers[:-1] == [["convert"], ["--qemu-img"], ["disk.qcow2"], ["--json"], ["disk.qcow2"], ["hyperv"],
                            ["qcow2"], ["list"], ["--disk-format"], ["fish"]]  # fmt: skip


def test_zsh_completion_works_at_a_real_zsh_prompt(tmp_path: Path) -> None:
    """An interactive zsh on a terminal (a pty) with compinit: Tab completes through bashcompinit."""
    (tmp_path / "disk.qcow2").touch()
    script = tmp_path / "diskscope.zsh"
    script.write_text(run("completion", "zsh").stdout)
    bin_dir = str(Path(sys.executable).parent)
    for typed, expected in [("conv", "convert"), ("convert a b --preset hyp", "hyperv"),
                            ("info --js", "--json"), ("disk.q", "disk.qcow2")]:  # fmt: skip
        assert expected in zsh_line_after_tab(tmp_path, script, bin_dir, f"diskscope {typed}", expected)


def zsh_line_after_tab(folder: Path, script: Path, bin_dir: str, line: str, expected: str) -> str:
    """What zsh shows after `line` and a Tab (the screen's text, escape codes and all), once
    `expected` is on it or zsh has long stopped drawing."""
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: an interactive zsh without the user's rc files
        os.chdir(folder)
        os.environ.update(PATH=f"{bin_dir}:{os.environ['PATH']}", TERM="dumb", HOME=str(folder))
        os.execvp("zsh", ["zsh", "-f", "-i"])
    screen = b""

    def read_until(marker: bytes) -> None:
        nonlocal screen
        deadline = time.monotonic() + 120  # only against a hang
        while marker not in screen and time.monotonic() < deadline:
            if select.select([fd], [], [], 0.5)[0]:
                screen += os.read(fd, 4096)

    try:
        os.write(fd, f"PS1='rea''dy> '; autoload -U compinit && compinit -u; source {script}\n".encode())
        read_until(b"ready> ")  # the prompt, not the echo of the line that sets it
        screen = b""
        os.write(fd, line.encode() + b"\t")
        read_until(expected.encode())
        return screen.decode(errors="replace")
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)


def test_the_man_page_renders(tmp_path: Path) -> None:
    page = run("man")
    assert page.returncode == ExitCode.OK and page.stdout.startswith(".TH DISKSCOPE 1 ")
    checked = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"], input=page.stdout,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert (checked.returncode, checked.stderr) == (0, "")
    (tmp_path / "diskscope.1").write_text(page.stdout)
    env = {**os.environ, "MANPAGER": "cat", "MANWIDTH": "200", "LC_ALL": "C.UTF-8"}
    shown = subprocess.run(["man", "-l", str(tmp_path / "diskscope.1")], capture_output=True, text=True,
                           env=env, timeout=300)  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS"):
        assert f"\n{heading}\n" in text
    assert (
        "diskscope convert [OPTIONS] SRC DST" in text
        and "diskscope glance show [OPTIONS] [ENDPOINT] ID..." in text
    )
    assert "--rate-limit SIZE" in text and "130  interrupted by Ctrl-C" in text
    assert text.count("--qemu-img PATH") == 1  # the global options once, not under every command
