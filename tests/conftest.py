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


class SecondsFilesystem:
    """A real ext4 with 128-byte inodes, loop-mounted at `mount`: its timestamps are whole
    seconds, as on older and foreign filesystems. `edit` runs debugfs commands on it while
    it is unmounted (debugfs writes inode fields the kernel would never set)."""

    def __init__(self, image: str, mount: str) -> None:
        self.image, self.mount = image, mount

    def edit(self, *commands: str) -> None:
        import subprocess

        subprocess.run(["umount", self.mount], check=True)
        for command in commands:
            subprocess.run(["debugfs", "-w", "-R", command, self.image], check=True, capture_output=True)
        subprocess.run(["mount", "-o", "loop", self.image, self.mount], check=True)


@pytest.fixture
def seconds_filesystem(tmp_path):  # type: ignore[no-untyped-def]
    """A SecondsFilesystem. Mounting needs root and a loop device; elsewhere the test skips."""
    import subprocess

    image, mount = tmp_path / "seconds.ext4", tmp_path / "seconds"
    mount.mkdir()
    subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
    made = subprocess.run(["mkfs.ext4", "-q", "-I", "128", str(image)], capture_output=True)
    if made.returncode != 0 or subprocess.run(["mount", "-o", "loop", str(image), str(mount)],
                                              capture_output=True).returncode != 0:  # fmt: skip
        pytest.skip("a loop-mounted ext4 needs root, mkfs.ext4 and a loop device")
    try:
        yield SecondsFilesystem(str(image), str(mount))
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """A real HTTP server on 127.0.0.1 serving `server.files`."""
    with serving() as s:
        yield s
