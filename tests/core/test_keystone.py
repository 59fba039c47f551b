"""Logging in to a real Keystone 30 (tests/keystonekit.py) and using the token on a real
Glance 33 that checks it with keystonemiddleware: clouds.yaml (+ secure.yaml) with
--os-cloud and OS_CLOUD, openrc variables, password, application credential and token
logins, region and interface, a token that expires between a download and its resume,
refused logins in one sentence, a private CA through OS_CACERT, and no token over http."""

# ruff: noqa: F811 - `cloud` is the session fixture imported from keystonekit, used by name
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from diskscope.core.cloud.auth import KeystoneLogin, gather
from diskscope.core.cloud.glance import GlanceClient
from diskscope.core.errors import Cancelled
from diskscope.core.fetch.http import HttpOptions
from diskscope.core.fetch.pipeline import FetchJob, FetchRequest
from diskscope.core.qemu.qemu_img import QemuImg
from hostile import Handler, hostile
from httpserver import serving
from keystonekit import APPCRED_SECRET, DEMO_PASSWORD, OS_VARIABLES, Cloud, cloud  # noqa: F401 - the fixture
from tlskit import self_signed

pytestmark = pytest.mark.keystone
MiB = 1 << 20
# this machine's own settings, which the tests set themselves where they matter
MACHINE_TLS_AND_PROXIES = {"REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "http_proxy", "https_proxy", "HTTP_PROXY",
                           "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}  # fmt: skip
DATA = bytes(range(256)) * (24 * MiB // 256)


@pytest.fixture(scope="module")
def image(cloud: Cloud) -> str:
    return cloud.upload("cloud-image", DATA, "raw")


def run(cloud: Cloud, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`diskscope ARGS` with only the OS_* variables given (and the test's clouds.yaml)."""
    clean = {
        k: v for k, v in os.environ.items() if k not in OS_VARIABLES and k not in MACHINE_TLS_AND_PROXIES
    }
    return subprocess.run([sys.executable, "-m", "diskscope", *args], capture_output=True, text=True,
                          timeout=300, env={**clean, **cloud.env, **(env or {})})  # fmt: skip


def openrc(cloud: Cloud, **more: str) -> dict[str, str]:
    return {"OS_AUTH_URL": cloud.auth_url, "OS_USERNAME": "demo", "OS_PASSWORD": DEMO_PASSWORD,
            "OS_PROJECT_NAME": "demo", "OS_USER_DOMAIN_NAME": "Default",
            "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne", **more}  # fmt: skip


def assert_no_secret(done: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in (DEMO_PASSWORD, APPCRED_SECRET, *secrets):
        assert secret not in done.stdout + done.stderr


def login_line(done: subprocess.CompletedProcess[str]) -> str:
    return next(line for line in done.stderr.splitlines() if "logged in:" in line)


@pytest.mark.parametrize(("how", "auth"), [
    (["--os-cloud", "demo"], "password"),  # the password from secure.yaml
    (["--os-cloud", "demo-appcred"], "v3applicationcredential"),
])  # fmt: skip
def test_glance_list_with_a_named_cloud(cloud: Cloud, image: str, how: list[str], auth: str) -> None:
    done = run(cloud, "glance", "list", "-v", *how)
    assert done.returncode == 0, done.stderr
    assert image in done.stdout and "cloud-image" in done.stdout
    assert login_line(done).endswith(
        f"logged in: cloud {how[1]}, {auth} login, user demo, project demo, region RegionOne, "
        f"public endpoint {cloud.endpoint}"
    )
    assert_no_secret(done)


def test_os_cloud_variable_and_fetch_by_name(cloud: Cloud, image: str, tmp_path: Path) -> None:
    done = run(cloud, "fetch", "cloud-image", str(tmp_path), "-q", env={"OS_CLOUD": "demo-appcred"})
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cloud-image.raw").read_bytes() == DATA
    assert_no_secret(done)


def test_openrc_variables_password_and_application_credential(cloud: Cloud, image: str) -> None:
    appcred = {"OS_AUTH_URL": cloud.auth_url, "OS_AUTH_TYPE": "v3applicationcredential",
               "OS_APPLICATION_CREDENTIAL_ID": cloud.appcred_id,
               "OS_APPLICATION_CREDENTIAL_SECRET": APPCRED_SECRET}  # fmt: skip
    for env in (openrc(cloud), appcred):
        done = run(cloud, "glance", "show", "-v", image, env=env)
        assert done.returncode == 0, done.stderr
        assert "cloud-image" in done.stdout
        assert "cloud from the environment" in login_line(done)
        assert_no_secret(done)


def test_options_win_over_variables_and_clouds_yaml(cloud: Cloud, image: str) -> None:
    """openstackclient's order: OS_REGION_NAME beats clouds.yaml, --os-region-name beats both."""
    done = run(cloud, "glance", "list", "-v", "--os-cloud", "demo", env={"OS_REGION_NAME": "RegionTwo"})
    assert "region RegionTwo" in login_line(done)
    done = run(cloud, "glance", "list", "-v", "--os-cloud", "demo", "--os-region-name", "RegionOne",
               env={"OS_REGION_NAME": "RegionTwo"})  # fmt: skip
    assert "region RegionOne" in login_line(done)


def test_token_login(cloud: Cloud, image: str, tmp_path: Path) -> None:
    token = cloud.demo_session().get_token()
    assert token
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    done = run(cloud, "glance", "list", "-v", "--os-cloud", "demo-token", "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    assert image in done.stdout
    assert "v3token login, user demo, project demo" in login_line(done)
    assert_no_secret(done, token)


@pytest.mark.parametrize(("args", "endpoint"), [
    (["--os-cloud", "demo-regiontwo"], "{glance}/v2"),
    (["--os-cloud", "demo", "--os-interface", "internal"], "{local}"),
    (["--os-cloud", "demo-regiontwo", "--os-interface", "internal"], "{local}/v2"),
    (["--os-cloud", "demo", "--endpoint", "{glance}"], "{glance}"),  # given: the catalog is not asked
])  # fmt: skip
def test_region_and_interface_choose_the_endpoint(
    cloud: Cloud,
    image: str,
    args: list[str],
    endpoint: str,
    tmp_path: Path,
) -> None:
    urls = {"glance": cloud.endpoint, "local": cloud.endpoint.replace("127.0.0.1", "localhost")}
    args = [a.format(**urls) for a in args]
    done = run(cloud, "fetch", "cloud-image", str(tmp_path / "x.raw"), "-q", "-v", *args)
    assert done.returncode == 0, done.stderr
    assert login_line(done).endswith(f"endpoint {endpoint.format(**urls)}")
    assert (tmp_path / "x.raw").read_bytes() == DATA


def test_a_wrong_password_is_one_sentence(cloud: Cloud) -> None:
    done = run(cloud, "glance", "list", "--os-cloud", "demo", "--os-password", "not-the-password")
    assert done.returncode == 2
    host = cloud.auth_url.split("/")[2]
    assert done.stderr == (f"diskscope: Keystone at {host} refused the password of user 'demo' "
                           "(or that user or project).\n")  # fmt: skip
    assert "not-the-password" not in done.stdout + done.stderr


def test_a_revoked_application_credential_is_one_sentence(cloud: Cloud) -> None:
    env = {"OS_AUTH_URL": cloud.auth_url, "OS_APPLICATION_CREDENTIAL_ID": cloud.doomed_appcred_id,
           "OS_APPLICATION_CREDENTIAL_SECRET": APPCRED_SECRET}  # fmt: skip
    assert run(cloud, "glance", "list", env=env).returncode == 0  # it worked before...
    cloud.demo_session().delete(f"/users/{cloud.demo_user_id}/application_credentials/{cloud.doomed_appcred_id}",
                                endpoint_filter={"service_type": "identity"})  # fmt: skip
    done = run(cloud, "glance", "list", env=env)
    assert done.returncode == 2
    host = cloud.auth_url.split("/")[2]
    assert done.stderr == (f"diskscope: Keystone at {host} refused the application credential: "
                           "it is wrong, expired, or revoked.\n")  # fmt: skip
    assert_no_secret(done)


def test_a_token_that_expires_before_the_resume_is_renewed(
    cloud: Cloud,
    image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first attempt is cancelled after some data; the resume comes after the first
    attempt's token has expired (Glance refuses it), and gets a current one."""
    for name, value in cloud.env.items():
        monkeypatch.setenv(name, value)
    login = KeystoneLogin(gather({"cloud": "demo"}, {}))
    glance = GlanceClient(login.image_endpoint(), HttpOptions(login=login))
    first_token = login.token()
    cancel = threading.Event()

    def progress(p: object) -> None:
        if getattr(p, "phase", "") == "downloading" and getattr(p, "done", 0) > 0:
            cancel.set()

    request = FetchRequest(source="cloud-image", destination=tmp_path / "r.raw", options=glance.options,
                           endpoint=glance.endpoint, to_raw=False)  # fmt: skip
    with pytest.raises(Cancelled):
        FetchJob(request, QemuImg(), progress, cancel).run()
    kept = list(tmp_path.glob("*.part"))
    assert kept and 0 < kept[0].stat().st_size < len(DATA)
    deadline = time.monotonic() + 300  # the fixture's tokens live 30 s
    while requests.get(f"{cloud.endpoint}/v2/images/{image}", headers={"X-Auth-Token": first_token},
                       timeout=60).status_code != 401:  # fmt: skip
        assert time.monotonic() < deadline, "the token never expired"
        time.sleep(1)
    result = FetchJob(request, QemuImg()).run()
    assert result.download.resumed_from > 0
    assert (tmp_path / "r.raw").read_bytes() == DATA


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A private CA's certificate for 127.0.0.1 (self-signed: it is its own CA)."""
    return self_signed(tmp_path_factory.mktemp("tls"), "Private cloud CA")


@pytest.mark.parametrize("variable", ["OS_CACERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_private_ca_from_the_environment(cloud: Cloud, certificate: tuple[str, str], variable: str) -> None:
    record = {"id": "0123456789abcdef0123456789abcdef", "name": "behind-tls", "status": "active"}
    with serving(tls=certificate) as server:
        server.glance_images[record["id"]] = record
        env = openrc(cloud, OS_IMAGE_URL=server.base)
        refused = run(cloud, "glance", "show", record["id"], env=env)
        trusted = run(cloud, "glance", "show", record["id"], env={**env, variable: certificate[0]})
    assert refused.returncode == 2
    assert refused.stderr == ("diskscope: TLS verification failed for 127.0.0.1; give the CA bundle that "
                              "signed its certificate with --ca-bundle (or OS_CACERT), or turn "
                              "verification off if you trust the network.\n")  # fmt: skip
    assert trusted.returncode == 0, trusted.stderr
    assert "behind-tls" in trusted.stdout
    tokens = {h.get("X-Auth-Token") for _, h in server.requests}
    assert len(tokens) == 1 and None not in tokens  # a Keystone token, and only over TLS


def _downgrading(handler: Handler) -> None:
    """Over TLS, a redirect to plain http on the same host and port."""
    if isinstance(handler.connection, ssl.SSLSocket):
        handler.redirect(handler.server.url(handler.path, "http"))
    else:
        handler.send(200, b"{}", {"Content-Type": "application/json"})


def test_the_token_is_never_sent_over_http_after_a_redirect(
    cloud: Cloud,
    certificate: tuple[str, str],
) -> None:
    with hostile(_downgrading, tls=certificate) as server:
        done = run(cloud, "glance", "list", "-v",
                   env=openrc(cloud, OS_IMAGE_URL=server.url(""), OS_CACERT=certificate[0]))  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].endswith("redirected to plain http, which anyone on the network "
                                                 "path could read or alter; Diskscope does not follow it.")  # fmt: skip
    assert [s.tls for s in server.seen] == [True]  # plain http was never even asked
    assert len(server.values("X-Auth-Token")) == 1
    assert_no_secret(done, server.values("X-Auth-Token")[0])


def test_glance_upload_with_a_named_cloud(cloud: Cloud, tmp_path: Path) -> None:
    """Publishing through the real Keystone: glance-direct with keystonemiddleware checking
    every call's token, and the image lands in the demo project, verified."""
    source = tmp_path / "published.raw"
    source.write_bytes(DATA[: 6 * MiB])
    done = run(cloud, "glance", "upload", str(source), "--os-cloud", "demo", "--json", "-q")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["method"] == "glance-direct" and result["status"] == "active"
    assert cloud.glance.image_file(result["id"]).read_bytes() == source.read_bytes()
    shown = run(cloud, "glance", "show", "--json", "--os-cloud", "demo", result["id"])
    assert json.loads(shown.stdout)["os_hash_value"] == result["os_hash_value"]  # demo's own image
    assert_no_secret(done)
