"""After the download: the verified `.part` is used (checked, placed or removed) only
while its name still holds the very file the download wrote and verified."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from ..errors import DestinationExists, DestinationNotWritable, PartialFileChanged
from ..placement import check_destination
from .partfiles import NOFOLLOW
from .verification import DownloadResult

logger = logging.getLogger(__name__)


def check_download(result: DownloadResult) -> None:
    """Raise PartialFileChanged unless `result.part` is still the file the download verified."""
    os.close(_open_unchanged(result))


def place_download(result: DownloadResult, destination: Path, overwrite: bool) -> None:
    """Give the verified `.part` its final name: only the file we wrote, and never onto or
    through a link (a rename replaces a name; it does not write through it)."""
    fd = _open_unchanged(result)
    try:
        check_destination(destination, overwrite)
        try:
            if overwrite:
                os.rename(result.part, destination)
            else:
                _rename_noreplace(result.part, destination)
        except OSError as exc:
            raise DestinationNotWritable(f"Could not move {result.part} to {destination}: "
                                         f"{exc.strerror}.") from None  # fmt: skip
        placed = os.lstat(destination)
        held = os.fstat(fd)
        if (placed.st_dev, placed.st_ino) != (held.st_dev, held.st_ino):
            os.unlink(destination)  # the name we just made, for what was swapped in at .part
            raise changed(result.part)
        folder = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        os.close(fd)


def remove_download(result: DownloadResult) -> None:
    """Remove the verified `.part`, if that name is still the file the download wrote."""
    try:
        st = os.lstat(result.part)
    except FileNotFoundError:
        return
    if (st.st_dev, st.st_ino, st.st_ctime_ns) == result.identity:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(result.part)
    else:
        logger.warning("%s is no longer the download; left it alone", result.part)


def _rename_noreplace(source: Path, destination: Path) -> None:
    """Rename without replacing: a hard link (which fails if the name exists), then unlink."""
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError:
        raise _appeared(destination) from None
    except OSError:  # a filesystem without hard links: check, then rename
        if os.path.lexists(destination):
            raise _appeared(destination) from None
        os.rename(source, destination)
    else:
        os.unlink(source)


def _appeared(destination: Path) -> DestinationExists:
    return DestinationExists(f"{destination} appeared while the job ran; it was left untouched.")


def _open_unchanged(result: DownloadResult) -> int:
    """The verified `.part`, opened without following a link, if it is the file we wrote."""
    try:
        fd = os.open(result.part, os.O_RDONLY | NOFOLLOW)
    except OSError:
        raise changed(result.part) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino, st.st_ctime_ns) != result.identity:
        os.close(fd)
        raise changed(result.part)
    return fd


def changed(part: Path) -> PartialFileChanged:
    return PartialFileChanged(f"{part} was replaced or changed by someone else after it was "
                              "verified, so it was not used.")  # fmt: skip
