"""The session's real Keystone, and a real Glance that validates its tokens against it.

One Keystone and one Glance for the whole test session (starting them takes seconds;
installing Keystone, once, about a minute). Tokens live TOKEN_LIFE seconds, so a test can
watch one expire; keystoneauth1 then logs in again before every request (it renews a
token with less than 120 s left), which is what a long download needs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

sys.path.insert(0, str(Path(__file__).resolve().parent / "keystone"))
import keystone_server
from glancekit import glance_server, glance_venv

ROOT = Path(__file__).resolve().parents[1]
TOKEN_LIFE = 30  # seconds
DEMO_PASSWORD = "demo-pass-Kx81"
APPCRED_SECRET = "appcred-secret-Qz42"
GLANCE_PASSWORD = "glance-pass-Wb17"


def keystone_venv() -> Path:
    return Path(os.environ.get("DISKSCOPE_KEYSTONE_VENV", ROOT / ".cache" / "keystone-venv"))


@dataclass
class Cloud:
    """What the tests need to know about the seeded cloud."""

    auth_url: str
    glance: glance_server.GlanceServer
    admin: ks_session.Session
    appcred_id: str
    doomed_appcred_id: str  # revoked by the test that needs it
    demo_user_id: str
    config: Path  # the folder with clouds.yaml and secure.yaml
    env: dict[str, str] = field(default_factory=dict)  # OS_CLIENT_CONFIG_FILE, OS_CLIENT_SECURE_FILE

    @property
    def endpoint(self) -> str:
        return self.glance.endpoint

    def demo_session(self) -> ks_session.Session:
        return ks_session.Session(auth=v3.Password(
            self.auth_url, username="demo", password=DEMO_PASSWORD, user_domain_id="default",
            project_name="demo", project_domain_id="default",
        ))  # fmt: skip

    def upload(self, name: str, data: bytes | None, disk_format: str = "raw") -> str:
        """An image in project demo (its data uploaded unless None); its id."""
        token = self.demo_session().get_token()
        headers = {"X-Auth-Token": token}
        created = requests.post(f"{self.endpoint}/v2/images", headers=headers, timeout=60,
                                json={"name": name, "disk_format": disk_format, "container_format": "bare"})  # fmt: skip
        created.raise_for_status()
        image_id: str = created.json()["id"]
        if data is not None:
            requests.put(f"{self.endpoint}/v2/images/{image_id}/file", data=data, timeout=120,
                         headers={**headers, "Content-Type": "application/octet-stream"}).raise_for_status()  # fmt: skip
        return image_id


def _post(s: ks_session.Session, path: str, key: str, body: dict[str, object]) -> str:
    answer = s.post(
        path, json={key: body}, endpoint_filter={"service_type": "identity", "interface": "public"}
    )
    return str(answer.json()[key]["id"])


def _role(s: ks_session.Session, name: str) -> str:
    roles = s.get(f"/roles?name={name}", endpoint_filter={"service_type": "identity"}).json()["roles"]
    return str(roles[0]["id"])


def _seed_identity(admin: ks_session.Session) -> dict[str, str]:
    ident = {"service_type": "identity"}
    ids = {}
    for project in ("demo", "service"):
        ids[project] = _post(admin, "/projects", "project", {"name": project, "domain_id": "default"})
    ids["demo_user"] = _post(admin, "/users", "user", {"name": "demo", "password": DEMO_PASSWORD,
                                                       "domain_id": "default", "default_project_id": ids["demo"]})  # fmt: skip
    ids["glance_user"] = _post(admin, "/users", "user", {"name": "glance", "password": GLANCE_PASSWORD,
                                                         "domain_id": "default"})  # fmt: skip
    admin.put(
        f"/projects/{ids['demo']}/users/{ids['demo_user']}/roles/{_role(admin, 'member')}",
        endpoint_filter=ident,
    )
    admin.put(
        f"/projects/{ids['service']}/users/{ids['glance_user']}/roles/{_role(admin, 'service')}",
        endpoint_filter=ident,
    )
    _post(admin, "/regions", "region", {"id": "RegionTwo"})
    return ids


def _seed_catalog(admin: ks_session.Session, glance_url: str) -> None:
    """Image endpoints: four different strings (so a test can tell which was chosen) that
    all reach the one Glance; Glance's client strips the `/v2` some catalogs carry."""
    service = _post(admin, "/services", "service", {"type": "image", "name": "glance"})
    local = glance_url.replace("127.0.0.1", "localhost")
    for region, interface, url in (("RegionOne", "public", glance_url), ("RegionOne", "internal", local),
                                   ("RegionTwo", "public", glance_url + "/v2"),
                                   ("RegionTwo", "internal", local + "/v2")):  # fmt: skip
        _post(admin, "/endpoints", "endpoint",
              {"service_id": service, "interface": interface, "region_id": region, "url": url})  # fmt: skip


def _app_credential(auth_url: str, user_id: str, name: str, secret: str) -> str:
    demo = ks_session.Session(auth=v3.Password(
        auth_url, username="demo", password=DEMO_PASSWORD, user_domain_id="default",
        project_name="demo", project_domain_id="default",
    ))  # fmt: skip
    return _post(demo, f"/users/{user_id}/application_credentials", "application_credential",
                 {"name": name, "secret": secret})  # fmt: skip


CLOUDS_YAML = """clouds:
  demo:
    auth:
      auth_url: {auth_url}
      username: demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    interface: public
  demo-regiontwo:
    auth:
      auth_url: {auth_url}
      username: demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
  demo-appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: {auth_url}
      application_credential_id: {appcred_id}
    region_name: RegionOne
  demo-token:
    auth_type: v3token
    auth:
      auth_url: {auth_url}
      project_name: demo
      project_domain_name: Default
  demo-asks:
    auth:
      auth_url: {auth_url}
      username: demo
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
"""

# The secrets live apart, as openstacksdk allows: clouds.yaml can be shared, this cannot.
SECURE_YAML = """clouds:
  demo:
    auth:
      password: {password}
  demo-regiontwo:
    auth:
      password: {password}
  demo-appcred:
    auth:
      application_credential_secret: {secret}
"""


@pytest.fixture(scope="session")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    """A real Keystone 30 and a real Glance 33 that checks its tokens with keystonemiddleware.
    It skips (with the reason) only where they cannot be installed; CI sets
    DISKSCOPE_REQUIRE_KEYSTONE=1, which turns that skip into a failure."""
    kvenv, gvenv = keystone_venv(), glance_venv()
    try:
        keystone_server.install(kvenv)
        glance_server.install(gvenv)
    except Exception as exc:  # no network, no PyPI: say why, once
        if os.environ.get("DISKSCOPE_REQUIRE_KEYSTONE"):
            raise
        pytest.skip(f"Keystone or Glance could not be installed from PyPI: {exc}")
    keystone = keystone_server.start(kvenv, tmp_path_factory.mktemp("keystone"), TOKEN_LIFE)
    glance = None
    try:
        admin = ks_session.Session(auth=v3.Password(
            keystone.url, username="admin", password=keystone.admin_password, user_domain_id="default",
            project_name="admin", project_domain_id="default",
        ))  # fmt: skip
        ids = _seed_identity(admin)
        glance = glance_server.start(gvenv, tmp_path_factory.mktemp("glance-keystone"), "", keystone={
            "www_authenticate_uri": keystone.url.removesuffix("/v3"), "auth_url": keystone.url,
            "auth_type": "password", "username": "glance", "password": GLANCE_PASSWORD,
            "user_domain_name": "Default", "project_name": "service", "project_domain_name": "Default",
            "region_name": "RegionOne", "interface": "public", "service_token_roles_required": "true",
        })  # fmt: skip
        _seed_catalog(admin, glance.endpoint)
        time.sleep(1.1)  # revocation events have one-second resolution: no login in the seed's second
        appcred = _app_credential(keystone.url, ids["demo_user"], "demo-appcred", APPCRED_SECRET)
        doomed = _app_credential(keystone.url, ids["demo_user"], "doomed", APPCRED_SECRET)
        config = tmp_path_factory.mktemp("openstack-config")
        (config / "clouds.yaml").write_text(CLOUDS_YAML.format(auth_url=keystone.url, appcred_id=appcred))
        (config / "secure.yaml").write_text(SECURE_YAML.format(password=DEMO_PASSWORD, secret=APPCRED_SECRET))
        env = {"OS_CLIENT_CONFIG_FILE": str(config / "clouds.yaml"),
               "OS_CLIENT_SECURE_FILE": str(config / "secure.yaml")}  # fmt: skip
        yield Cloud(keystone.url, glance, admin, appcred, doomed, ids["demo_user"], config, env)
    finally:
        if glance is not None:
            glance.stop()
        keystone.stop()


OS_VARIABLES = ("OS_CLOUD", "OS_AUTH_URL", "OS_USERNAME", "OS_PASSWORD", "OS_PROJECT_NAME",
                "OS_PROJECT_ID", "OS_USER_DOMAIN_NAME", "OS_PROJECT_DOMAIN_NAME", "OS_AUTH_TYPE",
                "OS_APPLICATION_CREDENTIAL_ID", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_TOKEN",
                "OS_AUTH_TOKEN", "OS_REGION_NAME", "OS_INTERFACE", "OS_CACERT", "OS_IMAGE_URL",
                "OS_CLIENT_CONFIG_FILE", "OS_CLIENT_SECURE_FILE")  # fmt: skip


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OS_* variable from the machine running the tests."""
    for name in OS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch
