"""Hostile servers and careless input against the network code: the token stays with its
origin and out of every output, query strings stay out of logs, Glance listings end, and
Glance metadata is checked before a byte is downloaded. Real servers on 127.0.0.1, the
CLI run as typed."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from diskscope.core.cloud.glance import MAX_IMAGES, MAX_JSON_BYTES, MAX_PAGES, GlanceClient
from diskscope.core.errors import DiskscopeError, UnsafeImage
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import DownloadFailed, HttpOptions, InvalidToken, origin
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.fetch.verification import Expectation
from diskscope.core.qemu.qemu_img import QemuImg
from hostile import Handler, HostileServer, glance_image, hostile
from imagekit import iso_volume_descriptors

TOKEN = "s3cret-net-token"
DATA = bytes(range(256)) * 4096  # 1 MiB, raw to every inspector
SHA256 = hashlib.sha256(DATA).hexdigest()


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`diskscope ARGS` as a user types it; stdout and stderr as text."""
    return subprocess.run([sys.executable, "-m", "diskscope", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})  # fmt: skip


def serve_data(handler: Handler) -> None:
    handler.send(200, DATA, {"Content-Type": "application/octet-stream"})


def download(url: str, dest: Path, token: str | None = TOKEN) -> bytes:
    expect = Expectation(checksums=(), declared_format=None)
    request = DownloadRequest(url, dest, HttpOptions(token=token), expect, allow_unverified=True, retries=0)
    return Download(request).run().part.read_bytes()


# -- the token stays with the scheme, host and port it was given for ---------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2"], ids=["another-port", "another-host"])
def test_a_redirect_elsewhere_never_gets_the_token(tmp_path: Path, host: str) -> None:
    with (
        hostile(serve_data, host=host) as elsewhere,
        hostile(lambda h: h.redirect(elsewhere.url("/d.img"))) as first,
    ):
        assert download(first.url("/d.img"), tmp_path / "d.img") == DATA
    assert first.values("X-Auth-Token") == [TOKEN]
    assert elsewhere.values("X-Auth-Token") == []
    assert [s.path for s in elsewhere.seen] == ["/d.img"]


def test_the_token_follows_a_redirect_on_its_own_origin(tmp_path: Path) -> None:
    def answer(handler: Handler) -> None:
        if handler.path == "/old.img":
            handler.redirect("/new.img")
        else:
            serve_data(handler)

    with hostile(answer) as server:
        assert download(server.url("/old.img"), tmp_path / "d.img") == DATA
    assert server.values("X-Auth-Token") == [TOKEN, TOKEN]


def test_the_origin_spells_out_default_ports() -> None:
    assert origin("https://Glance.example/v2") == origin("https://glance.example:443/x")
    assert origin("http://glance.example/") == ("http", "glance.example", 80)
    assert origin("https://glance.example/") != origin("http://glance.example:443/")


# -- no secret in any output -------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["s3cret-first-line\ns3cret-second-line\n", "s3cret with spaces\n", "s3cret-\x1b[2K\n", "\n"],
    ids=["two-lines", "spaces", "control", "empty"],
)
def test_a_bad_token_file_is_one_sentence_that_does_not_quote_it(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(content)
    with hostile(serve_data) as server:
        done = run_cli("fetch", server.url("/d.img"), str(tmp_path / "d.img"), "--unverified",
                       "--token-file", str(token_file), "-v", "-q")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(f"diskscope: The token file {token_file} is ")
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert "s3cret" not in done.stderr
    assert server.seen == []  # refused before any request


def test_a_bad_token_from_the_command_line_or_the_environment_is_not_echoed(tmp_path: Path) -> None:
    with hostile(serve_data) as server:
        typed = run_cli("fetch", server.url("/d.img"), str(tmp_path / "a.img"), "--unverified",
                        "--token", "s3cret\nsecond", "-v", "-q")  # fmt: skip
        env = run_cli("fetch", server.url("/d.img"), str(tmp_path / "b.img"), "--unverified", "-v",
                      "-q", env={"OS_AUTH_TOKEN": "s3cret second"})  # fmt: skip
    assert typed.stderr.startswith("diskscope: The --token value is not a token")
    assert env.stderr.startswith("diskscope: $OS_AUTH_TOKEN is not a token")
    for done in (typed, env):
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert "s3cret" not in done.stdout + done.stderr
    assert server.seen == []


def test_help_says_that_token_shows_in_ps() -> None:
    done = run_cli("fetch", "--help")
    assert done.returncode == 0
    help_text = " ".join(done.stdout.split())
    assert "--token TOKEN the X-Auth-Token itself; other users can read it in `ps`" in help_text
    assert "prefer --token-file or $OS_AUTH_TOKEN" in help_text


def test_a_token_that_cannot_be_sent_never_reaches_requests() -> None:
    with pytest.raises(InvalidToken) as refused:
        HttpOptions(token="s3cret\r\nX-Injected: 1")
    assert "s3cret" not in str(refused.value)


def test_verbose_logs_hold_no_query_string_and_no_token(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with hostile(serve_data) as server:
        done = run_cli("fetch", server.url("/d.img?temp_url_sig=S3CRETSIG&temp_url_expires=1"),
                       str(tmp_path / "d.img"), "--keep-format", "--checksum", f"sha256:{SHA256}",
                       "-v", "-q", "--token-file", str(token_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert server.values("X-Auth-Token") == [TOKEN]
    assert [s.path for s in server.seen] == ["/d.img?temp_url_sig=S3CRETSIG&temp_url_expires=1"]
    assert "DEBUG urllib3.connectionpool: http://127.0.0.1:" in done.stderr  # urllib3 did log
    assert '"GET /d.img?*** HTTP/1.1" 200' in done.stderr
    for secret in ("S3CRETSIG", TOKEN):
        assert secret not in done.stdout + done.stderr


def test_a_failed_connection_quotes_no_query_string(tmp_path: Path) -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
    done = run_cli("fetch", f"http://127.0.0.1:{port}/d.img?temp_url_sig=S3CRETSIG",
                   str(tmp_path / "d.img"), "--unverified", "-v", "-q")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith(
        f"diskscope: The download from http://127.0.0.1:{port}/d.img failed after 5 attempts"
    )
    assert "attempt 1 failed" in done.stderr  # the retries were logged, scrubbed
    assert "S3CRETSIG" not in done.stdout + done.stderr


# -- Glance listings end -----------------------------------------------------------------------


def glance_pages(
    make_next: Callable[[HostileServer], str | None], per_page: int = 1
) -> Callable[[Handler], None]:
    def answer(handler: Handler) -> None:
        n = len(handler.server.seen)
        images = [glance_image(f"{n}-{i}") for i in range(per_page)]
        following = make_next(handler.server)
        handler.send_json({"images": images, **({"next": following} if following else {})})

    return answer


def list_images(server: HostileServer) -> list[object]:
    return list(GlanceClient(server.url(""), HttpOptions()).images())


def test_a_next_link_to_itself_is_a_loop() -> None:
    with (
        hostile(glance_pages(lambda s: "/v2/images?marker=same")) as server,
        pytest.raises(DownloadFailed, match="leads back to a page already listed"),
    ):
        list_images(server)
    assert [s.path for s in server.seen] == ["/v2/images", "/v2/images?marker=same"]


def test_an_endless_chain_of_pages_stops_at_the_cap() -> None:
    with (
        hostile(glance_pages(lambda s: f"/v2/images?marker={len(s.seen)}")) as server,
        pytest.raises(DownloadFailed, match=f"more than {MAX_PAGES:,} pages"),
    ):
        list_images(server)
    assert len(server.seen) == MAX_PAGES


def test_too_many_images_stop_the_listing() -> None:
    per_page = MAX_IMAGES // 3 + 1
    with (
        hostile(glance_pages(lambda s: f"/v2/images?marker={len(s.seen)}", per_page)) as server,
        pytest.raises(DownloadFailed, match=f"more than {MAX_IMAGES:,} images"),
    ):
        list_images(server)
    assert len(server.seen) == 3


def test_an_endless_page_is_cut_off() -> None:
    def answer(handler: Handler) -> None:  # ends, after more than the cap, so that old code ends
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        handler.wfile.write(b'{"images": [')
        record = b'{"id": "x", "status": "active"}, ' * 32768
        for _ in range(MAX_JSON_BYTES // len(record) + 16):
            handler.wfile.write(record)

    with (
        hostile(answer) as server,
        pytest.raises(DownloadFailed, match=f"more than {MAX_JSON_BYTES >> 20} MiB"),
    ):
        list_images(server)


def test_cli_glance_list_with_a_looping_server_is_one_sentence() -> None:
    with hostile(glance_pages(lambda s: "/v2/images?marker=same")) as server:
        done = run_cli("glance", "list", server.url(""))
    assert done.returncode == 2
    assert done.stderr == ("diskscope: The image service sent a page link that leads back to a page "
                           "already listed, so the listing would never end.\n")  # fmt: skip


# -- Glance metadata is checked before the download --------------------------------------------


def glance_serving(record: dict[str, object], data: bytes) -> Callable[[Handler], None]:
    def answer(handler: Handler) -> None:
        if handler.path.endswith("/file"):
            handler.send(200, data, {"Content-Type": "application/octet-stream"})
        else:
            handler.send_json(record)

    return answer


def fetch_glance(record: dict[str, object], data: bytes, dest: Path) -> tuple[HostileServer, Exception]:
    with hostile(glance_serving(record, data)) as server:
        url = server.url(f"/v2/images/{record['id']}")
        with pytest.raises(DiskscopeError) as refused:
            FetchJob(FetchRequest(url, dest, HttpOptions(token=TOKEN)), QemuImg()).run()
    return server, refused.value


def record_for(data: bytes, **fields: object) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    return glance_image("img-1", size=len(data), os_hash_algo="sha256", os_hash_value=digest, **fields)


@pytest.mark.parametrize("disk_format", ["vhdz", None], ids=["unknown", "missing"])
def test_an_unknown_disk_format_is_refused_before_the_download(
    tmp_path: Path, disk_format: str | None
) -> None:
    server, refused = fetch_glance(record_for(DATA, disk_format=disk_format), DATA, tmp_path)
    assert [s.path for s in server.seen] == ["/v2/images/img-1"]  # never the file
    expected = (
        "has the disk_format 'vhdz', which Diskscope does not know" if disk_format else "has no disk_format"
    )
    assert f"The Glance image img-1 {expected}" in str(refused) and "not downloaded" in str(refused)
    assert list(tmp_path.iterdir()) == []


def iso_bytes() -> bytes:
    return b"\0" * 32768 + iso_volume_descriptors() + b"\0" * (1 << 20)


@pytest.mark.parametrize(
    ("registered", "content", "found"), [("raw", iso_bytes(), "iso"), ("iso", DATA, "raw")]
)
def test_content_must_match_the_disk_format(
    tmp_path: Path, registered: str, content: bytes, found: str
) -> None:
    _, refused = fetch_glance(record_for(content, disk_format=registered), content, tmp_path)
    assert isinstance(refused, UnsafeImage)
    assert f"claims to be {registered} but its content is {found}" in str(refused)
    assert list(tmp_path.iterdir()) == []
