"""Start-up pays only for what the command uses: `info` imports no network, Qt, metadata or
formatting library, and a command's parser alone parses exactly as the whole one does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from diskscope.core import cli
from imagekit import create

# What `diskscope info` never needs: each cost milliseconds at every start before.
NOT_FOR_INFO = ("requests", "urllib3", "humanize", "importlib.metadata", "concurrent.futures",
                "difflib", "decimal", "uuid", "PySide6", "keystoneauth1", "tempfile")  # fmt: skip

PROBE = """
import json, sys
from diskscope.core.cli import main
status = main(sys.argv[1:])
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_info_imports_only_what_it_uses(tmp_path: Path) -> None:
    image = create(tmp_path / "a.qcow2", "qcow2", "1M")
    done = subprocess.run([sys.executable, "-c", PROBE, "info", "--json", str(image)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    report, probe = done.stdout.rsplit("\n{", 1)
    assert json.loads(report)["safe"] is True
    loaded = set(json.loads("{" + probe)["modules"])
    assert loaded.isdisjoint(NOT_FOR_INFO), loaded & set(NOT_FOR_INFO)


@pytest.mark.parametrize(
    "argv",
    [
        ["info", "--json", "a.qcow2", "b.raw"],
        ["--qemu-img", "convert", "info", "x"],  # a global option's value that names a command
        ["--qemu", "/bin/q", "-v", "check", "--json", "x"],  # an abbreviated global option
        ["--cpu-limit=5", "map", "--max-length", "1G", "x"],
        ["convert", "-O", "raw", "--verify", "full", "s", "d"],
        ["convert", "s", "d", "-O", "raw", "--verify"],  # alone: full
        ["convert", "--preset", "hyperv", "--verify=full", "s", "d"],
        ["fetch", "--keep-format", "http://h/i.qcow2", "d"],
        ["glance", "list", "--json"],
        ["completion", "fish"],
    ],
)
def test_one_commands_parser_parses_as_the_whole_one(argv: list[str]) -> None:
    command = cli._command_in(argv)
    partial, whole = cli.build_parser(command).parse_args(argv), cli.build_parser().parse_args(argv)
    assert vars(partial) == vars(whole)


def test_the_command_is_found_after_the_global_options() -> None:
    assert cli._command_in(["--qemu-img", "info", "check", "x"]) == "check"
    assert cli._command_in(["-v", "--memory-limit", "512", "measure", "x"]) == "measure"
    assert cli._command_in(["--", "info"]) is None  # not plain: the whole parser decides
    assert cli._command_in(["nonsense", "info"]) is None
