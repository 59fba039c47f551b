"""A real OpenStack Keystone (30.x) on 127.0.0.1 for the tests: sqlite, fernet tokens,
an in-process cache, one gunicorn worker.

`python tests/keystone/keystone_server.py install VENV` prepares the virtual environment; the
pytest fixture (tests/keystonekit.py) starts, seeds and stops the server.
"""

from __future__ import annotations

import grp
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ["keystone==30.0.0", "gunicorn==27.0.1"]
ADMIN_PASSWORD = "admin-pass-for-tests"

# Keystone has no server of its own: gunicorn binds. The cache is dogpile's in-process
# memory (one worker only): uncached, every token call costs 0.2-1 s here. bcrypt cost 4
# is the minimum, and max_password_length 72 silences a warning on every password check.
CONFIG = """[DEFAULT]
debug = false
log_file = {state}/keystone.log
use_stderr = false
[database]
connection = sqlite:///{state}/keystone.db
[token]
provider = fernet
expiration = {expiration}
[fernet_tokens]
key_repository = {state}/fernet-keys
[fernet_receipts]
key_repository = {state}/fernet-keys
[credential]
key_repository = {state}/credential-keys
[identity]
password_hash_rounds = 4
max_password_length = 72
[cache]
enabled = true
backend = dogpile.cache.memory
[oslo_concurrency]
lock_path = {state}/locks
"""


def installed(venv: Path) -> bool:
    return (venv / "bin" / "gunicorn").exists() and (venv / "bin" / "keystone-manage").exists()


def install(venv: Path) -> None:
    """Create the venv and install Keystone from PyPI (about a minute)."""
    if installed(venv):
        return
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, *PACKAGES], check=True)


@dataclass
class KeystoneServer:
    url: str  # the identity endpoint, http://127.0.0.1:PORT/v3
    admin_password: str
    state: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _manage(venv: Path, conf: Path, env: dict[str, str], *args: str) -> None:
    done = subprocess.run([str(venv / "bin" / "keystone-manage"), "--config-file", str(conf), *args],
                          capture_output=True, env=env)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"keystone-manage {args[0]} failed:\n{done.stderr.decode()[-2000:]}")


def start(venv: Path, state: Path, expiration: int) -> KeystoneServer:
    """Keystone with bootstrap's admin, RegionOne and its own identity endpoints, serving."""
    for sub in ("etc", "locks", "fernet-keys", "credential-keys"):
        (state / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
    conf = state / "etc" / "keystone.conf"
    conf.write_text(CONFIG.format(state=state, expiration=expiration))
    env = {**os.environ, "OS_KEYSTONE_CONFIG_DIR": str(conf.parent), "PYTHONWARNINGS": "ignore"}
    owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
             "--keystone-group", grp.getgrgid(os.getgid()).gr_name]  # fmt: skip
    _manage(venv, conf, env, "db_sync")
    _manage(venv, conf, env, "fernet_setup", *owner)
    _manage(venv, conf, env, "credential_setup", *owner)
    for _attempt in range(3):  # the free port can be taken between choosing and binding
        port = _free_port()
        url = f"http://127.0.0.1:{port}/v3"
        _manage(venv, conf, env, "bootstrap", "--bootstrap-username", "admin",
                "--bootstrap-password", ADMIN_PASSWORD, "--bootstrap-project-name", "admin",
                "--bootstrap-role-name", "admin", "--bootstrap-service-name", "keystone",
                "--bootstrap-region-id", "RegionOne", "--bootstrap-admin-url", url,
                "--bootstrap-public-url", url, "--bootstrap-internal-url", url)  # fmt: skip
        log = open(state / "gunicorn.log", "wb")  # noqa: SIM115 - the server writes to it
        process = subprocess.Popen(
            [str(venv / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "1",
             "--worker-class", "gthread", "--threads", "4", "--timeout", "600",
             "--no-control-socket", "--pythonpath", str(HERE), "app:application"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        server = KeystoneServer(url, ADMIN_PASSWORD, state, process)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and process.poll() is None:
            if b"Address already in use" in (state / "gunicorn.log").read_bytes():
                break
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        return server
            except OSError:
                time.sleep(0.2)
        server.stop()
    tail = (state / "gunicorn.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Keystone did not start:\n{tail}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "install":
        sys.exit("usage: keystone_server.py install VENV")
    install(Path(sys.argv[2]))
