"""File > Open Sample Images: where the samples go, and making them (off the UI thread)."""

from __future__ import annotations

import shutil
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from ..core.errors import DiskscopeError
from ..core.qemu.qemu_img import QemuImg
from ..core.samples import create_samples


def samples_folder() -> Path:
    """The samples' folder in the user's cache (XDG_CACHE_HOME): never a new /tmp folder."""
    cache = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.CacheLocation)
    return Path(cache) / "samples"


def make_samples(qemu: QemuImg, folder: Path) -> list[Path]:
    """Empty `folder` and create the samples in it; runs in a worker (qemu-img runs six times)."""
    try:
        if folder.exists():
            shutil.rmtree(folder)  # only ours; a symbolic link here raises instead of being followed
        folder.mkdir(parents=True, mode=0o700)
        return create_samples(qemu, folder)
    except (DiskscopeError, OSError) as exc:
        raise DiskscopeError(f"The samples could not be created: {exc}") from exc
