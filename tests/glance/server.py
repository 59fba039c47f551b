"""A real OpenStack Glance (33.x) on 127.0.0.1 for the tests: sqlite, the file store,
and a stand-in for Keystone that requires a token.

`python tests/glance/server.py install VENV` prepares the virtual environment
(.ci/run does this first); the pytest fixture starts and stops the server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ["glance==33.0.0", "gunicorn==27.0.1"]

CONFIG = """[DEFAULT]
debug = false
log_file = {state}/glance-api.log
use_stderr = false
enabled_backends = fs:file
image_cache_dir = {state}/cache
[database]
connection = sqlite:///{state}/glance.sqlite
[paste_deploy]
flavor = {flavor}
config_file = {here}/api-paste.ini
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {state}/images/
[os_glance_staging_store]
filesystem_store_datadir = {state}/staging/
[os_glance_tasks_store]
filesystem_store_datadir = {state}/tasks/
[oslo_policy]
enforce_new_defaults = true
[oslo_concurrency]
lock_path = {state}/locks
[import_filtering_opts]
# web-download from the tests' own HTTP server on 127.0.0.1 and a random port (Glance
# refuses loopback addresses unless they are allowed by name)
allowed_ports = []
allowed_hosts = [127.0.0.1]
"""
# The metadata definitions an upload validates properties against (hw_disk_bus's values...).
METADEFS = ("compute-libvirt-image.json", "operating-system.json")


def installed(venv: Path) -> bool:
    return (venv / "bin" / "gunicorn").exists() and (venv / "bin" / "glance-manage").exists()


def install(venv: Path) -> None:
    """Create the venv and install Glance from PyPI (about half a minute)."""
    if installed(venv):
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PACKAGES], check=True)


@dataclass
class GlanceServer:
    endpoint: str
    token: str
    state: Path
    process: subprocess.Popen[bytes]

    def image_file(self, image_id: str) -> Path:
        return self.state / "images" / image_id

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _load_metadefs(venv: Path, conf: Path, folder: Path, env: dict[str, str]) -> None:
    """A few of the metadata definitions Glance ships, as a cloud's operator loads them."""
    shipped = venv / "etc" / "glance" / "metadefs"
    folder.mkdir(exist_ok=True)
    for name in METADEFS:
        (folder / name).write_bytes((shipped / name).read_bytes())
    subprocess.run([str(venv / "bin" / "glance-manage"), "--config-file", str(conf), "db_load_metadefs",
                    str(folder)], check=True, capture_output=True, env=env)  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start(venv: Path, state: Path, token: str, keystone: dict[str, str] | None = None) -> GlanceServer:
    """Glance behind our fakeauth filter and `token`, or, given `keystone` (the
    [keystone_authtoken] settings of its service user), behind keystonemiddleware."""
    for sub in ("images", "staging", "tasks", "cache", "locks", "etc"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    conf = state / "etc" / "glance-api.conf"
    text = CONFIG.format(state=state, here=HERE, flavor="keystone" if keystone else "fakeauth")
    if keystone:
        text += "[keystone_authtoken]\n" + "".join(f"{k} = {v}\n" for k, v in keystone.items())
    conf.write_text(text)
    env = {
        **os.environ,
        "OS_GLANCE_CONFIG_DIR": str(conf.parent),
        "GLANCE_TEST_TOKEN": token,
        "PYTHONWARNINGS": "ignore",
    }
    subprocess.run([str(venv / "bin" / "glance-manage"), "--config-file", str(conf), "db_sync"],
                   check=True, capture_output=True, env=env)  # fmt: skip
    _load_metadefs(venv, conf, state / "metadefs", env)
    for _attempt in range(3):  # the free port can be taken between choosing and binding
        port = _free_port()
        log = open(state / "gunicorn.log", "wb")  # noqa: SIM115 - the server writes to it
        process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "-c", str(HERE / "gunicorn_conf.py"),
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
             "--threads", "8", "--timeout", "600", "--no-control-socket",
             "glance.wsgi.api:application"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        server = GlanceServer(f"http://127.0.0.1:{port}", token, state, process)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"{server.endpoint}/healthcheck", timeout=2) as r:
                    if r.status == 200:
                        return server
            except OSError:
                time.sleep(0.2)
        server.stop()
    tail = (state / "gunicorn.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Glance did not start:\n{tail}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "install":
        sys.exit("usage: server.py install VENV")
    install(Path(sys.argv[2]))
