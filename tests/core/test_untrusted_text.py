"""Names chosen by others reach the terminal inert: escape sequences, bidi overrides and C1
controls in file, backing and Glance names are printed escaped, never raw. Real images made
by qemu-img, a real hostile Glance-shaped server, the CLI run as typed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from diskscope.core.text import json_text, printable, scrub
from hostile import Handler, glance_image, hostile
from imagekit import qemu_img

# Erase the line, go back to its start, and write "SAFE"; then reverse what follows.
BACKING = "\x1b[2K\rSAFE\u202eevil.raw"
NAME = "disk\x1b]0;owned\x07\u009b31m.qcow2"
# Raw terminal controls as bytes on the wire: C0 but the line feed, DEL, C1 (UTF-8), bidi.
RAW_CONTROL = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]")


def diskscope(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "diskscope", *map(str, args)], capture_output=True,
                          timeout=120, env={**os.environ, "PYTHONIOENCODING": "utf-8"})  # fmt: skip


def assert_inert(done: subprocess.CompletedProcess[bytes]) -> None:
    for stream in (done.stdout, done.stderr):
        assert RAW_CONTROL.search(stream) is None, stream


@pytest.fixture
def hostile_image(tmp_path: Path) -> Path:
    path = tmp_path / NAME
    qemu_img("create", "-q", "-f", "qcow2", "-u", "-b", BACKING, "-F", "raw", path, "1M")
    return path


def test_info_prints_a_hostile_backing_name_escaped(hostile_image: Path) -> None:
    done = diskscope("info", hostile_image)
    assert done.returncode == 1
    assert_inert(done)
    text = done.stdout.decode()
    assert r"backing file  \x1b[2K\rSAFE\u202eevil.raw" in text  # still there to read
    assert "verdict       REFUSED" in text
    assert text.splitlines()[0] == printable(str(hostile_image))


def test_info_json_and_verbose_are_inert_and_lose_nothing(hostile_image: Path) -> None:
    done = diskscope("info", "--json", "-v", hostile_image)
    assert_inert(done)
    report = json.loads(done.stdout)
    assert report["backing_file"] == BACKING and report["path"] == str(hostile_image)


def test_an_error_about_a_hostile_name_is_escaped(tmp_path: Path) -> None:
    missing = tmp_path / NAME
    done = diskscope("info", missing)
    assert done.returncode == 2
    assert_inert(done)
    assert done.stderr.decode() == f"diskscope: {printable(str(missing))} does not exist.\n"


def test_an_undecodable_file_name_is_shown_as_its_bytes(tmp_path: Path) -> None:
    """qemu-img is handed a JSON image reference, which holds UTF-8 only: such a file is
    refused in one sentence that shows the name's bytes escaped."""
    path = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff.qcow2"))
    qemu_img("create", "-q", "-f", "qcow2", path, "1M")
    done = diskscope("info", path)
    assert done.returncode == 2
    assert_inert(done)
    assert done.stderr.decode() == (
        f"diskscope: The name {tmp_path}/bad\\xff.qcow2 is not valid UTF-8, so qemu-img cannot "
        "be given it; rename the file.\n"
    )


def test_glance_names_and_fields_are_escaped() -> None:
    image_id = "0b9c1e34-5f1a-4a8e-9a55-3f1d2c6b7a10"
    record = glance_image(image_id, name=BACKING, status="active\x1b[8m", disk_format="raw\u202e")

    def answer(handler: Handler) -> None:
        handler.send_json({"images": [record]} if handler.path == "/v2/images" else record)

    with hostile(answer) as server:
        listed = diskscope("glance", "list", server.url(""))
        shown = diskscope("glance", "show", server.url(""), image_id)
        as_json = diskscope("glance", "list", server.url(""), "--json")
    for done in (listed, shown, as_json):
        assert done.returncode == 0, done.stderr
        assert_inert(done)
    assert r"\x1b[2K\rSAFE" in listed.stdout.decode()
    assert "status            active\\x1b[8m" in shown.stdout.decode()
    assert json.loads(as_json.stdout)[0]["name"] == BACKING


def test_printable_escapes_every_kind_of_hidden_character() -> None:
    hidden = "\x00\t\n\r\x1b\x7f\x85\x9b\u061c\u200b\u200e\u2028\u2029\u202a\u202e\u2066\u2069\ufeff\U000e0001\udcff"
    shown = printable(hidden)
    assert shown.isascii() and shown.isprintable()
    assert shown.startswith(r"\x00\t\n\r\x1b\x7f\x85\x9b\u061c")
    assert shown.endswith(r"\U000e0001\xff")
    assert printable("Bücher ünïcødé ✓ 日本") == "Bücher ünïcødé ✓ 日本"


def test_json_text_escapes_what_json_dumps_leaves_raw() -> None:
    data = {"name": "a\x7f\x9b\u202eé\n"}
    text = json_text(data)
    assert json.loads(text) == data
    assert RAW_CONTROL.search(text.replace("\n", "").encode()) is None
    assert "é" in text


def test_scrub_removes_query_strings_but_keeps_sentences() -> None:
    assert scrub('"GET /d.img?temp_url_sig=abc&x=1 HTTP/1.1" 200') == '"GET /d.img?*** HTTP/1.1" 200'
    assert scrub("Is it there? No.") == "Is it there? No."
