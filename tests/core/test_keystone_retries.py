"""What a real cloud's Glance does under load, played by a hostile server on 127.0.0.1:
busy answers (429, 503) retried with backoff and Retry-After; a token refused mid-way
renewed once through the real Keystone login; an unreachable host's retries reported."""

# ruff: noqa: F811 - `cloud` is the session fixture imported from keystonekit, used by name
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from diskscope.core.cloud.auth import KeystoneLogin, gather
from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import DownloadFailed, HttpOptions
from diskscope.core.fetch.verification import Expectation
from diskscope.core.progress import Progress
from hostile import Handler, hostile
from keystonekit import Cloud, cloud  # noqa: F401 - the fixture

IMAGE = {"id": "0123456789abcdef0123456789abcdef", "name": "after-the-storm", "status": "active"}


def busy_then_fine(busy: list[tuple[int, str]]):  # type: ignore[no-untyped-def]
    """Answers each (status, Retry-After) of `busy` in turn, then the image list."""

    def answer(handler: Handler) -> None:
        if busy:
            code, after = busy.pop(0)
            handler.send(code, b"busy", {"Retry-After": after})
        else:
            handler.send_json({"images": [IMAGE]})

    return answer


def test_busy_answers_are_retried_honouring_retry_after() -> None:
    with hostile(busy_then_fine([(503, "1"), (429, "1"), (502, "0")])) as server:
        started = time.monotonic()
        images = GlanceClient(server.url(""), HttpOptions()).images()
        waited = time.monotonic() - started
    assert [i.name for i in images] == ["after-the-storm"]
    assert len(server.seen) == 4
    assert waited >= 2  # the two Retry-After: 1 were honoured (a lower bound only)


def test_a_server_that_stays_busy_is_one_sentence() -> None:
    with hostile(busy_then_fine([(503, "0")] * 20)) as server, pytest.raises(DownloadFailed) as failed:
        GlanceClient(server.url(""), HttpOptions()).images()
    assert str(failed.value) == "The server answered 503 Service Unavailable for the image list."
    assert len(server.seen) == 5  # the first try and four retries


def test_a_refused_token_is_renewed_once_through_the_login(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first token is refused (as a revoked one is): a fresh one from the real Keystone."""
    for name, value in cloud.env.items():
        monkeypatch.setenv(name, value)
    login = KeystoneLogin(gather({"cloud": "demo"}, {}))
    refused: list[str] = []

    def answer(handler: Handler) -> None:
        token = handler.headers["X-Auth-Token"]
        if not refused:
            refused.append(token)
            handler.send(401, b"{}", {"Content-Type": "application/json"})
        else:
            handler.send_json({"images": [IMAGE]})

    with hostile(answer) as server:
        images = GlanceClient(server.url(""), HttpOptions(login=login)).images()
    tokens = server.values("X-Auth-Token")
    assert [i.id for i in images] == [IMAGE["id"]]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_a_token_refused_twice_is_one_sentence(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in cloud.env.items():
        monkeypatch.setenv(name, value)
    login = KeystoneLogin(gather({"cloud": "demo"}, {}))
    refuse = lambda h: h.send(401, b"{}", {"Content-Type": "application/json"})  # noqa: E731
    with hostile(refuse) as server, pytest.raises(DownloadFailed) as failed:
        GlanceClient(server.url(""), HttpOptions(login=login)).images()
    assert (
        str(failed.value)
        == "The server refused access to the image list (401 Unauthorized); check the token."
    )
    assert len(server.seen) == 2  # one renewal, not a loop


def test_an_unreachable_host_reports_each_retry(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    phases: list[str] = []

    def progress(p: Progress) -> None:
        if p.phase.startswith("retrying") and p.phase not in phases:
            phases.append(p.phase)

    request = DownloadRequest(f"http://127.0.0.1:{port}/d.img", tmp_path / "d.img",
                              expect=Expectation(checksums=(parse_checksum("sha256:" + "0" * 64),)),
                              backoff=0.01)  # fmt: skip
    with pytest.raises(DownloadFailed) as failed:
        Download(request, progress).run()
    assert phases == ["retrying 2 of 5", "retrying 3 of 5", "retrying 4 of 5", "retrying 5 of 5"]
    assert "failed after 5 attempts" in str(failed.value)


def test_proxies_from_the_environment_are_used() -> None:
    """http_proxy reaches Glance through the proxy (here a server that answers for it)."""
    with hostile(lambda h: h.send_json({"images": [IMAGE]})) as proxy:
        done = subprocess.run(
            [sys.executable, "-m", "diskscope", "glance", "list", "http://192.0.2.1:9292"],
            capture_output=True, text=True, timeout=120,
            env={**os.environ, "http_proxy": proxy.url(""), "no_proxy": "", "NO_PROXY": ""},
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "after-the-storm" in done.stdout
    assert [s.path for s in proxy.seen] == ["http://192.0.2.1:9292/v2/images"]


def test_commands_without_a_cloud_never_import_the_login_libraries(tmp_path: Path) -> None:
    code = ("import sys; from diskscope.core.cli import main; main(['info', sys.argv[1]]); "
            "print(sorted(m for m in ('keystoneauth1', 'openstack') if m in sys.modules))")  # fmt: skip
    image = tmp_path / "empty.raw"
    image.write_bytes(b"\0" * 65536)
    done = subprocess.run(
        [sys.executable, "-c", code, str(image)], capture_output=True, text=True, timeout=120
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize(
    "given", ["https://g:9292", "https://g:9292/", "https://g:9292/v2", "https://g:9292/v2/images/"]
)
def test_an_endpoint_with_the_api_path_is_accepted(given: str) -> None:
    assert GlanceClient(given, HttpOptions()).endpoint == "https://g:9292"
