"""The session's real Glance, and helpers to put images into it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent / "glance"))
import server as glance_server

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-glance-token"


def glance_venv() -> Path:
    return Path(os.environ.get("DISKSCOPE_GLANCE_VENV", ROOT / ".cache" / "glance-venv"))


@pytest.fixture(scope="session")
def glance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[glance_server.GlanceServer]:
    """A real Glance 33 on 127.0.0.1. It skips (with the reason) only where Glance cannot be
    installed; CI sets DISKSCOPE_REQUIRE_GLANCE=1, which turns that skip into a failure."""
    venv = glance_venv()
    try:
        glance_server.install(venv)
    except Exception as exc:  # no network, no PyPI: say why, once
        if os.environ.get("DISKSCOPE_REQUIRE_GLANCE"):
            raise
        pytest.skip(f"Glance could not be installed from PyPI into {venv}: {exc}")
    server = glance_server.start(venv, tmp_path_factory.mktemp("glance"), TOKEN)
    try:
        yield server
    finally:
        server.stop()


def upload(glance: glance_server.GlanceServer, name: str, data: bytes | None, disk_format: str) -> str:
    """Create an image (and upload its data, unless None); its id."""
    headers = {"X-Auth-Token": glance.token}
    created = requests.post(
        f"{glance.endpoint}/v2/images",
        json={"name": name, "disk_format": disk_format, "container_format": "bare"},
        headers=headers, timeout=60,
    )  # fmt: skip
    created.raise_for_status()
    image_id: str = created.json()["id"]
    if data is not None:
        stored = requests.put(
            f"{glance.endpoint}/v2/images/{image_id}/file", data=data, timeout=120,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )  # fmt: skip
        stored.raise_for_status()
    return image_id
