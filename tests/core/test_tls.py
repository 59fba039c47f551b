"""TLS: verification on by default, a CA bundle accepted, turning it off only on request
(with a warning), and never a redirect down to plain http. A real https server on 127.0.0.1
with a certificate made in the test."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from diskscope.core.fetch.checksums import parse_checksum
from diskscope.core.fetch.download import Download, DownloadRequest
from diskscope.core.fetch.http import DownloadFailed, HttpOptions
from diskscope.core.fetch.verification import Expectation
from hostile import Handler, hostile
from httpserver import serving
from tlskit import self_signed

DATA = b"\x5a" * (256 * 1024)
CHECKSUM = "sha256:" + hashlib.sha256(DATA).hexdigest()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    return self_signed(tmp_path_factory.mktemp("tls"), "127.0.0.1")


def _download(url: str, dest: Path, options: HttpOptions) -> bytes:
    expect = Expectation(checksums=(parse_checksum(CHECKSUM),))
    return Download(DownloadRequest(url, dest, options, expect, retries=0)).run().part.read_bytes()


def test_unknown_certificate_is_refused_in_one_sentence(certificate: tuple[str, str], tmp_path: Path) -> None:
    with serving(tls=certificate) as server:
        server.files["d.img"] = DATA
        with pytest.raises(DownloadFailed, match=r"TLS verification failed for 127\.0\.0\.1"):
            _download(server.url("d.img"), tmp_path / "d.img", HttpOptions())
    assert list(tmp_path.iterdir()) == []


def test_ca_bundle_and_insecure(certificate: tuple[str, str], tmp_path: Path) -> None:
    with serving(tls=certificate) as server:
        server.files["d.img"] = DATA
        assert (
            _download(server.url("d.img"), tmp_path / "a.img", HttpOptions(ca_bundle=certificate[0])) == DATA
        )
        assert _download(server.url("d.img"), tmp_path / "b.img", HttpOptions(insecure=True)) == DATA


def test_cli_warns_when_verification_is_off(certificate: tuple[str, str], tmp_path: Path) -> None:
    with serving(tls=certificate) as server:
        server.files["d.img"] = DATA
        done = subprocess.run(
            [sys.executable, "-m", "diskscope", "fetch", server.url("d.img"), str(tmp_path / "d.img"),
             "--keep-format", "--checksum", CHECKSUM, "--insecure", "-q"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("diskscope: warning: TLS verification is off")
    assert done.stderr.count("\n") == 1
    assert (tmp_path / "d.img").read_bytes() == DATA


TOKEN = "s3cret-tls-token"


def _downgrading(handler: Handler) -> None:
    """Over TLS, a redirect to plain http on the same host and port; over plain http, the image."""
    if isinstance(handler.connection, ssl.SSLSocket):
        handler.redirect(handler.server.url("/d.img", "http"))
    else:
        handler.send(200, DATA, {"Content-Type": "application/octet-stream"})


@pytest.mark.parametrize("token", [TOKEN, None])
def test_redirect_from_https_down_to_http_is_refused(
    certificate: tuple[str, str], tmp_path: Path, token: str | None
) -> None:
    with hostile(_downgrading, tls=certificate) as server:
        options = HttpOptions(token=token, ca_bundle=certificate[0])
        with pytest.raises(DownloadFailed) as refused:
            _download(server.url("/d.img"), tmp_path / "d.img", options)
    assert [s.tls for s in server.seen] == [True]  # plain http was never even asked
    assert server.values("X-Auth-Token") == ([TOKEN] if token else [])
    assert str(refused.value) == (
        f"{server.url('/d.img')} redirected to plain http, which anyone on the network path "
        "could read or alter; Diskscope does not follow it."
    )
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_the_downgrade_in_one_sentence_without_the_token(
    certificate: tuple[str, str], tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with hostile(_downgrading, tls=certificate) as server:
        done = subprocess.run(
            [sys.executable, "-m", "diskscope", "fetch", server.url("/d.img?temp_url_sig=S3CRET"),
             str(tmp_path / "d.img"), "--keep-format", "--checksum", CHECKSUM, "-q", "-v",
             "--token-file", str(token_file), "--ca-bundle", certificate[0]],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"diskscope: {server.url('/d.img')} redirected to plain http, which anyone on the "
        "network path could read or alter; Diskscope does not follow it."
    )
    assert [s.tls for s in server.seen] == [True]
    for secret in (TOKEN, "S3CRET"):
        assert secret not in done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]
