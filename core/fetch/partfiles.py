"""The `.part` file and its sidecar: created by us (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600)
or adopted for a resume only if they are regular files of ours with no other name, then
used only through their descriptors. Anything else at those names is left untouched."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import pwd
import stat
from pathlib import Path

from ..errors import DestinationNotWritable, DiskscopeError, FileInTheWay, NotEnoughSpace

NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a planted FIFO cannot hang us
_SIDECAR_MAX = 64 * 1024


class OwnFile:
    """A file we created (O_EXCL) or adopted after `adopt`'s checks, used through `fd`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        st = os.fstat(fd)
        self.inode = (st.st_dev, st.st_ino)

    @classmethod
    def create(cls, path: Path) -> OwnFile:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | NOFOLLOW, 0o600)
        except FileExistsError:
            raise _in_the_way(path, "it appeared just as the download started") from None
        except OSError as exc:
            raise _cannot_create(path, exc) from None
        return cls(path, fd)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def still_named(self) -> bool:
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.inode

    def remove(self) -> None:
        """Unlink the name while it still names our file. In a sticky folder nobody else can
        rename our file between the check and the unlink; in a folder anyone may write
        without the sticky bit, anyone can unlink any name anyway."""
        if self.still_named():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def adopt(path: Path, flags: int) -> OwnFile | None:
    """`path` opened, if it is a regular file of ours with no other name; None if absent.
    Anything else raises FileInTheWay and is not opened for writing, nor touched."""
    try:
        _check_ours(path, os.lstat(path))  # a FIFO or device is refused before any open
        fd = os.open(path, flags | NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _in_the_way(path, "it is a symbolic link") from None
        raise _cannot_create(path, exc) from None
    try:
        _check_ours(path, os.fstat(fd))  # what we opened, whatever the name meant a moment ago
    except BaseException:
        os.close(fd)
        raise
    return OwnFile(path, fd)


def _check_ours(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise _in_the_way(path, "it is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _in_the_way(path, "it is not a regular file")
    if st.st_uid != os.geteuid():
        raise _in_the_way(path, f"it belongs to another user, {_user_name(st.st_uid)}")
    if st.st_nlink != 1:
        raise _in_the_way(path, "it has another name, a hard link elsewhere")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _in_the_way(path: Path, why: str) -> FileInTheWay:
    return FileInTheWay(f"{path} is in the way of the download ({why}), so it was left untouched; "
                        "remove it or choose another destination.")  # fmt: skip


def read_json(fd: int) -> object:
    """A sidecar's JSON, or None if it is too long or not JSON."""
    data = os.pread(fd, _SIDECAR_MAX + 1, 0)
    if len(data) > _SIDECAR_MAX:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def check_folder(destination: Path) -> None:
    """The folder exists, can be entered, and takes our longest name (the sidecar's)."""
    folder = destination.parent
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        raise DiskscopeError(f"The destination folder {folder} does not exist.") from None
    except PermissionError:
        raise DestinationNotWritable(f"You may not enter the destination folder {folder}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DiskscopeError(f"The destination folder {folder} is not a folder.")
    longest = len(os.fsencode(destination.name + ".part.meta"))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if longest > limit:
        raise DestinationNotWritable(
            f"The file name {destination.name} is too long: with the .part.meta suffix it has "
            f"{longest} bytes, and {folder} allows {limit}."
        )


def _cannot_create(path: Path, exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DestinationNotWritable(f"You may not create files in {path.parent}; choose a folder "
                                      "you can write to.")  # fmt: skip
    if exc.errno == errno.EROFS:
        return DestinationNotWritable(f"{path.parent} is on a read-only filesystem.")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace(f"There is no room for a new file in {path.parent}.")
    return DestinationNotWritable(f"Could not create {path}: {exc.strerror}.")


def write_error(path: Path, exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace("The destination filesystem filled up during the download.")
    return DestinationNotWritable(f"Could not write {path}: {exc.strerror}.")
