"""Shared test set-up. Qt tests need the offscreen platform before any Qt import."""

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TZ", "UTC")

from httpserver import ImageServer, serving
from hypothesis import HealthCheck, settings

# A modest budget in the normal run; HYPOTHESIS_PROFILE=long for a manual hunt.
settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def small_filesystem(tmp_path):  # type: ignore[no-untyped-def]
    """A real 4 MiB tmpfs, for a real "disk full". Mounting needs root; elsewhere the test skips."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """A real HTTP server on 127.0.0.1 serving `server.files`."""
    with serving() as s:
        yield s
