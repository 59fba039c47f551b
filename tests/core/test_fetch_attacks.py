"""The files a download writes, attacked for real, and stopping a download.

Another user (`nobody`) plants files in a folder both of us can write; the real
`diskscope fetch` runs in a subprocess against a real HTTP server on 127.0.0.1. A
server that drips one byte every 20 s plays the stalled download, stopped by a real
SIGINT or by the stall timeout.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskscope.core.errors import Cancelled, DiskscopeError, DownloadStalled, PartialFileChanged
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import HttpOptions
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.fetch.verification import Expectation
from diskscope.core.qemu.qemu_img import QemuImg
from glancekit import glance, upload  # noqa: F401 - the fixture
from httpserver import ImageServer
from imagekit import MiB, qemu_img

NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]
NOBODY_UID = 65534


def image_bytes(size: int = 2 * MiB) -> bytes:
    return bytes((i * 7 + i // 4096) % 251 for i in range(size))


@pytest.fixture
def image(server: ImageServer) -> bytes:
    data = image_bytes()
    server.files["disk.img"] = data
    return data


def public_folder(mode: int) -> Path:
    """A folder under /tmp that `nobody` can reach (pytest's own tmp_path is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="diskscope-test-", dir="/tmp"))
    folder.chmod(mode)
    return folder


@pytest.fixture(params=[0o777, 0o1777], ids=["world-writable", "sticky"])
def shared(request: pytest.FixtureRequest) -> Iterator[Path]:
    folder = public_folder(request.param)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def as_nobody(code: str, data: bytes = b"") -> None:
    """Run Python code as the user `nobody` (`data` on its stdin): the attacker is another
    process and another user."""
    subprocess.run([*NOBODY, sys.executable, "-I", "-c", code], input=data, check=True, timeout=60)


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def sidecar_for(url: str, data: bytes) -> str:
    """What the sidecar of this download says: anyone can write it, the source is public."""
    return json.dumps({"url": url, "size": None, "checksums": [str(parse_checksum(sha256(data)))]})


def cli(
    *args: object, user: list[str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    argv = [*(user or []), sys.executable, "-m", "diskscope", "fetch", *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def start_cli(*args: object) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "diskscope", "fetch", *map(str, args)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def part_size(kept: re.Match[str]) -> int:
    return int(kept[2].replace(",", ""))


def one_sentence(stderr: str) -> str:
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("diskscope: ") and stderr.endswith(".\n"), stderr
    assert "Traceback" not in stderr and "unexpected error" not in stderr, stderr
    return stderr.removeprefix("diskscope: ").strip()


# -- planted partial files ------------------------------------------------------------------


def fetch_after_planting(
    server: ImageServer, image: bytes, folder: Path, plant: str, data: bytes = b""
) -> subprocess.CompletedProcess[str]:
    """`nobody` runs `plant` (with `os`, `sys` and PART, the .part's name) and writes the
    matching sidecar; then root runs the real CLI to fetch DEST in that folder."""
    url = server.url("disk.img")
    part, meta = folder / "d.img.part", folder / "d.img.part.meta"
    as_nobody(f"import os, sys; PART = {str(part)!r}; {plant}; "
              f"open({str(meta)!r}, 'w').write({sidecar_for(url, image)!r})", data)  # fmt: skip
    return cli(url, folder / "d.img", "--keep-format", "--checksum", sha256(image), "-q")


def test_planted_symlink_part_is_left_alone(
    server: ImageServer, image: bytes, shared: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"root's own notes\n" * 10)
    victim.chmod(0o600)
    before = victim.read_bytes()
    done = fetch_after_planting(server, image, shared, f"os.symlink({str(victim)!r}, PART)")
    assert victim.read_bytes() == before
    part, meta = shared / "d.img.part", shared / "d.img.part.meta"
    message = one_sentence(done.stderr)
    assert done.returncode == 2
    assert str(part) in message and "symbolic link" in message and "left untouched" in message
    assert part.is_symlink() and os.readlink(part) == str(victim)
    assert meta.read_text() == sidecar_for(server.url("disk.img"), image)
    assert not os.path.lexists(shared / "d.img")


def test_planted_hard_link_part_is_left_alone(server: ImageServer, image: bytes, shared: Path) -> None:
    """With fs.protected_hardlinks=1 a user may hard-link only files they can read and write,
    so the victim here is such a file of root's; with 0, any file of root's would do."""
    elsewhere = public_folder(0o755)
    try:
        victim = elsewhere / "shared-notes"
        victim.write_bytes(b"root's notes that others may edit\n" * 10)
        victim.chmod(0o666)
        before = victim.read_bytes()
        done = fetch_after_planting(server, image, shared, f"os.link({str(victim)!r}, PART)")
        part = shared / "d.img.part"
        assert victim.read_bytes() == before and victim.stat().st_nlink == 2
        message = one_sentence(done.stderr)
        assert done.returncode == 2
        assert str(part) in message and "hard link" in message
        assert not os.path.lexists(shared / "d.img")
    finally:
        shutil.rmtree(elsewhere)


def test_planted_part_of_another_user_is_not_adopted(server: ImageServer, image: bytes, shared: Path) -> None:
    """The attacker's file holds the image's true first half, so that adopting it would end
    in a verified download that the attacker owns, and can rewrite after the check."""
    half = image[: len(image) // 2]
    done = fetch_after_planting(
        server, image, shared, "open(PART, 'wb').write(sys.stdin.buffer.read())", half
    )
    part = shared / "d.img.part"
    assert not os.path.lexists(shared / "d.img")
    assert part.read_bytes() == half and part.stat().st_uid == NOBODY_UID
    message = one_sentence(done.stderr)
    assert done.returncode == 2
    assert str(part) in message and "another user" in message


def test_overwrite_never_replaces_a_link(
    server: ImageServer, image: bytes, shared: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    dest = shared / "d.img"
    as_nobody(f"import os; os.symlink({str(victim)!r}, {str(dest)!r})")
    done = cli(
        server.url("disk.img"), dest, "--keep-format", "--overwrite", "--checksum", sha256(image), "-q"
    )
    message = one_sentence(done.stderr)
    assert done.returncode == 2 and "symbolic link" in message
    assert dest.is_symlink() and victim.read_bytes() == b"precious\n"
    assert sorted(p.name for p in shared.iterdir()) == ["d.img"]
    assert server.requests == [], "refused before downloading"


def test_own_stale_part_is_replaced_and_the_result_is_ours(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    (tmp_path / "d.img.part").write_bytes(b"junk" * 100)
    (tmp_path / "d.img.part.meta").write_text("{}")
    done = cli(server.url("disk.img"), tmp_path / "d.img", "--keep-format", "--checksum", sha256(image), "-q")
    assert done.returncode == 0, done.stderr
    result = tmp_path / "d.img"
    assert result.read_bytes() == image and not result.is_symlink()
    assert result.stat().st_mode & 0o777 == 0o600 and result.stat().st_nlink == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.img"]


def test_fetch_to_raw_never_touches_a_file_named_like_its_intermediate(
    server: ImageServer, tmp_path: Path
) -> None:
    """fetch-to-raw once converted into DEST.converted, replaced whatever had that name, and
    removed it on failure: a file of the user's (or a link planted there) must stay as it is."""
    raw = image_bytes()
    (tmp_path / "src.raw").write_bytes(raw)
    qemu_img("convert", "-f", "raw", "-O", "qcow2", tmp_path / "src.raw", tmp_path / "src.qcow2")
    server.files["disk.qcow2"] = (tmp_path / "src.qcow2").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    mine = out / "d.raw.converted"
    mine.write_bytes(b"the user's own file")
    done = cli(
        server.url("disk.qcow2"), out / "d.raw", "--checksum", sha256(server.files["disk.qcow2"]), "-q"
    )
    assert done.returncode == 0, done.stderr
    assert (out / "d.raw").read_bytes() == raw
    assert mine.read_bytes() == b"the user's own file"
    assert sorted(p.name for p in out.iterdir()) == ["d.raw", "d.raw.converted"]


def test_folder_you_cannot_write_is_one_sentence(server: ImageServer, image: bytes) -> None:
    folder = public_folder(0o755)
    try:
        done = cli(server.url("disk.img"), folder / "d.img", "--keep-format", "--checksum", sha256(image),
                   "-q", user=NOBODY)  # fmt: skip
        message = one_sentence(done.stderr)
        assert done.returncode == 2 and str(folder) in message
        assert list(folder.iterdir()) == []
    finally:
        shutil.rmtree(folder)


# -- stopping a download ---------------------------------------------------------------------


def test_ctrl_c_stops_a_dripping_download_and_says_what_it_kept(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    server.drip_after = 256 * 1024
    dest = tmp_path / "d.img"
    part = tmp_path / "d.img.part"
    args = (server.url("disk.img"), dest, "--keep-format", "--checksum", sha256(image), "-q")
    proc = start_cli(*args)
    deadline = time.monotonic() + 60  # only to stop a hang
    while time.monotonic() < deadline and not (part.exists() and part.stat().st_size >= 256 * 1024):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    try:
        _out, err = proc.communicate(timeout=30)  # before the fix: never, the read is blocked
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the first Ctrl-C did not stop the download")
    assert proc.returncode == 130, err
    message = one_sentence(err)
    kept = re.search(r"kept (\S+) \(([\d,]+) bytes\) to resume; run the same command again", message)
    assert kept, message
    assert kept[1] == str(part) and int(kept[2].replace(",", "")) == part.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.img.part", "d.img.part.meta"]
    server.drip_after = None
    again = cli(*args)
    assert again.returncode == 0, again.stderr
    assert dest.read_bytes() == image
    assert server.requests[-1][1].get("Range") == f"bytes={part_size(kept)}-"


def test_a_dripping_server_hits_the_stall_timeout(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    server.drip_after = 128 * 1024
    dest = tmp_path / "d.img"
    args = (server.url("disk.img"), dest, "--keep-format", "--checksum", sha256(image), "-q")
    done = cli(*args, "--stall-timeout", "2", timeout=120)  # before the fix: runs for ever
    assert done.returncode == 2
    message = one_sentence(done.stderr)
    assert "stalled" in message and "2 seconds" in message
    kept = re.search(r"kept (\S+) \(([\d,]+) bytes\) to resume", message)
    assert kept and part_size(kept) == (tmp_path / "d.img.part").stat().st_size > 0
    server.drip_after = None
    assert cli(*args).returncode == 0
    assert dest.read_bytes() == image


def test_stall_is_a_typed_error_and_keeps_the_part(server: ImageServer, image: bytes, tmp_path: Path) -> None:
    server.drip_after = 100_000
    expect = Expectation(checksums=(parse_checksum(sha256(image)),))
    request = DownloadRequest(server.url("disk.img"), tmp_path / "d", HttpOptions(), expect, stall_timeout=1)
    download = Download(request)
    with pytest.raises(DownloadStalled):
        download.run()
    assert (tmp_path / "d.part").read_bytes() == image[:100_000]
    assert download.keep_part and (tmp_path / "d.part.meta").exists()


# -- names from the server -------------------------------------------------------------------


def test_a_long_hostile_glance_name_becomes_a_file_name_that_fits(
    server: ImageServer, tmp_path: Path
) -> None:
    data = image_bytes(MiB)
    server.files["0f0e0d0c-0b0a-4908-8706-050403020100"] = data
    name = "..\x1b[31m/etc/" + "é" * 150 + "-x" * 70 + ".img"
    server.glance_images["0f0e0d0c-0b0a-4908-8706-050403020100"] = {
        "id": "0f0e0d0c-0b0a-4908-8706-050403020100", "name": name, "status": "active",
        "disk_format": "raw", "container_format": "bare", "size": len(data),
        "checksum": hashlib.md5(data).hexdigest(),
    }  # fmt: skip
    source = f"{server.base}/v2/images/0f0e0d0c-0b0a-4908-8706-050403020100"
    result = FetchJob(FetchRequest(source, tmp_path, to_raw=False), QemuImg()).run()
    placed = result.destination
    assert placed.parent == tmp_path and placed.read_bytes() == data
    assert len(os.fsencode(placed.name + ".part.meta")) <= 255
    assert placed.name.endswith(".img") and placed.name.startswith("_")
    assert not re.search(r"[\x00-\x1f\x7f/]", placed.name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [placed.name]


def test_a_destination_name_too_long_is_one_sentence(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    done = cli(
        server.url("disk.img"), tmp_path / ("n" * 250), "--keep-format", "--checksum", sha256(image), "-q"
    )
    message = one_sentence(done.stderr)
    assert done.returncode == 2 and "too long" in message
    assert list(tmp_path.iterdir()) == []


def test_a_real_glance_name_of_255_letters_fits(glance, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """Glance allows 255 characters; in UTF-8 these are 510 bytes, twice what a file name may have."""
    data = image_bytes(MiB)
    image_id = upload(glance, "é" * 255, data, "raw")
    request = FetchRequest(image_id, tmp_path, HttpOptions(token=glance.token), endpoint=glance.endpoint)
    result = FetchJob(request, QemuImg()).run()
    assert result.destination.read_bytes() == data
    assert result.destination.name == "é" * 98 + ".raw"
    assert sorted(p.name for p in tmp_path.iterdir()) == [result.destination.name]


def test_cancel_while_converting_says_what_was_removed(server: ImageServer, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "s.raw").write_bytes(image_bytes(4 * MiB))
    qemu_img("convert", "-f", "raw", "-O", "qcow2", source / "s.raw", source / "s.qcow2")
    server.files["cloud.qcow2"] = data = (source / "s.qcow2").read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    job = FetchJob(FetchRequest(server.url("cloud.qcow2"), out, checksum=sha256(data)), QemuImg())
    job.on_progress = lambda p: job.cancel.set() if p.phase == "converting" else None
    with pytest.raises(Cancelled) as exc:
        job.run()
    assert (
        str(exc.value) == f"The fetch was cancelled after the download; {out / 'cloud.raw.part'} was removed."
    )
    assert list(out.iterdir()) == []


def test_part_swapped_after_the_download_is_not_placed(
    server: ImageServer, image: bytes, tmp_path: Path
) -> None:
    """Without the sticky bit anyone may rename our `.part`: `nobody` swaps in a link to a
    victim just after the download was verified (at the "inspecting" phase)."""
    folder = public_folder(0o777)
    try:
        victim = tmp_path / "victim"
        victim.write_bytes(b"root's own notes\n")
        part = folder / "d.img.part"
        swap = f"import os; os.rename({str(part)!r}, {str(part) + '.stolen'!r}); os.symlink({str(victim)!r}, {str(part)!r})"

        def on_progress(progress: object) -> None:
            if getattr(progress, "phase", "") == "inspecting":
                as_nobody(swap)

        request = FetchRequest(server.url("disk.img"), folder / "d.img", checksum=sha256(image), to_raw=False)
        with pytest.raises(DiskscopeError) as exc:
            FetchJob(request, QemuImg(), on_progress=on_progress).run()
        assert victim.read_bytes() == b"root's own notes\n"
        assert not os.path.lexists(folder / "d.img")
        assert isinstance(exc.value, PartialFileChanged)
        assert part.is_symlink(), "a name that is no longer ours is left alone"
    finally:
        shutil.rmtree(folder)
