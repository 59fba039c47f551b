"""Putting finished output in place: fsync, then a rename that never clobbers by surprise."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from diskscope.core.errors import DiskscopeError


class DestinationExists(DiskscopeError):
    """The destination exists and overwriting was not asked for."""


def free_space(folder: Path) -> int:
    """Bytes free for us in `folder`'s filesystem (the probe jobs take as a parameter)."""
    return shutil.disk_usage(folder).free


def place_file(finished: Path, destination: Path, overwrite: bool) -> None:
    """Move `finished` to `destination` durably; without `overwrite`, a file that appeared
    at `destination` meanwhile is left untouched and DestinationExists is raised."""
    fd = os.open(finished, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    if overwrite:
        os.replace(finished, destination)
    else:
        try:
            os.link(finished, destination)
        except FileExistsError:
            raise _appeared(destination) from None
        except OSError:  # a filesystem without hard links: check, then rename
            if os.path.lexists(destination):
                raise _appeared(destination) from None
            os.rename(finished, destination)
        else:
            os.unlink(finished)
    dir_fd = os.open(destination.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _appeared(destination: Path) -> DestinationExists:
    return DestinationExists(f"{destination} appeared while the job ran; it was left untouched.")
