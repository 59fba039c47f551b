"""Where output is made and how it is put in place.

Partial output lives in a `PrivateFolder`: a 0700 folder made beside the destination
and held open, so that a name that someone else can write (`DST.part`, the folder's own
name in a shared folder) is never opened, unlinked or followed. The finished file is
moved into place by a rename or link of our own file, which replaces a name and never
writes through a link; the destination is a regular file or absent.

A job killed outright (SIGKILL, power loss) cannot remove its folder. Each folder holds an
`owner` note (host, boot, process and its start time), and the next job in the same folder
removes the folders whose process is gone, so a killed conversion's gigabytes do not linger.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import stat
import tempfile
from pathlib import Path

from .errors import (
    DestinationChanged,
    DestinationExists,
    DiskscopeError,
    UnsuitableDestination,
)

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_PREFIX = ".diskscope-"
_OWNER = "owner"  # the note in each private folder saying which process made it


def free_space(folder: Path) -> int:
    """Bytes free for us in `folder`'s filesystem (the probe jobs take as a parameter)."""
    return shutil.disk_usage(folder).free


def check_destination(destination: Path, overwrite: bool, dir_fd: int | None = None) -> None:
    """Absent, or a regular file that may be replaced; never a link, a device or a folder.

    A symbolic link is refused rather than replaced: a user who names a link most likely
    means the file behind it, and writing there is exactly what we never do.
    """
    where: str | Path = destination.name if dir_fd is not None else destination
    try:
        st = os.stat(where, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not overwrite:
        raise DestinationExists(f"{destination} exists; choose another name or allow overwriting.")
    if stat.S_ISLNK(st.st_mode):
        raise UnsuitableDestination(
            f"{destination} is a symbolic link; name the file itself or remove the link."
        )
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a device or other special file"
        raise UnsuitableDestination(f"{destination} is {kind}; only a regular file is ever replaced.")


class PrivateFolder:
    """A folder only we can enter, beside the destination, reached only through descriptors.

    `path(name)` is a /proc/PID/fd path: qemu-img (our child, same user) opens files in
    this very folder even if its name in the destination folder is renamed or replaced.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        try:
            self.parent_fd = os.open(folder, _DIRECTORY)
        except OSError as exc:
            raise DestinationChanged(
                f"The destination folder {folder} cannot be opened: {exc.strerror}."
            ) from None
        try:
            made = tempfile.mkdtemp(prefix=_PREFIX, dir=f"/proc/self/fd/{self.parent_fd}")
            self.name = os.path.basename(made)
            self.fd = os.open(self.name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=self.parent_fd)
        except OSError as exc:
            os.close(self.parent_fd)
            raise DiskscopeError(f"Nothing can be written in {folder}: {exc.strerror}.") from None
        st = os.fstat(self.fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700 or os.listdir(self.fd):
            self.close()
            raise DestinationChanged(f"Our private folder in {folder} was replaced; the job was stopped.")
        _write_owner(self.fd, _owner_note(os.getpid()))
        _sweep_stale(self.parent_fd, keep=self.name)

    @property
    def shown(self) -> Path:
        """Where the folder is, for messages and for the command a user copies."""
        return self.folder / self.name

    def path(self, name: str) -> str:
        return f"/proc/{os.getpid()}/fd/{self.fd}/{name}"

    def intact(self) -> bool:
        """Whether the folder is still linked where we made it."""
        with contextlib.suppress(OSError):
            here = os.stat(self.name, dir_fd=self.parent_fd, follow_symlinks=False)
            ours = os.fstat(self.fd)
            return (here.st_dev, here.st_ino) == (ours.st_dev, ours.st_ino)
        return False

    def remove(self) -> None:
        """Remove what we made: the files in our folder, then the folder if it is still ours."""
        with contextlib.suppress(OSError):
            for name in os.listdir(self.fd):
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=self.fd)
        if self.intact():
            with contextlib.suppress(OSError):
                os.rmdir(self.name, dir_fd=self.parent_fd)
        self.close()

    def close(self) -> None:
        for fd in (getattr(self, "fd", None), self.parent_fd):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _owner_note(pid: int) -> str | None:
    """Who made a folder: host, boot, pid and the process's start time (pids are reused)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip()
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            started = f.read().rsplit(")", 1)[1].split()[19]  # field 22, after the command name
    except (OSError, IndexError):
        return None
    return f"{socket.gethostname()} {boot} {pid} {started}"


def _write_owner(folder_fd: int, note: str | None) -> None:
    if note is None:
        return
    fd = os.open(_OWNER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                 dir_fd=folder_fd)  # fmt: skip
    try:
        os.write(fd, note.encode())
    finally:
        os.close(fd)


def _abandoned(note: str) -> bool:
    """Whether the process a note names is gone: on this host, another boot or a dead process."""
    fields = note.split()
    if len(fields) != 4 or fields[0] != socket.gethostname() or not fields[2].isdigit():
        return False  # another machine's job (a shared folder), or not a note of ours
    return _owner_note(int(fields[2])) != note


def _sweep_stale(parent_fd: int, keep: str) -> None:
    """Remove our own private folders in this folder whose job was killed outright.

    Only a 0700 folder of our user holding a note that names a process now gone is touched,
    through descriptors; a folder without a note (one being made this instant) is left alone.
    """
    with contextlib.suppress(OSError):
        for name in os.listdir(parent_fd):
            if name.startswith(_PREFIX) and name != keep:
                with contextlib.suppress(OSError):
                    _remove_if_abandoned(parent_fd, name)


def _remove_if_abandoned(parent_fd: int, name: str) -> None:
    fd = os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
            return
        note_fd = os.open(_OWNER, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=fd)
        try:
            note = os.read(note_fd, 512).decode("ascii", "replace")
        finally:
            os.close(note_fd)
        if not _abandoned(note):
            return
        for entry in os.listdir(fd):
            os.unlink(entry, dir_fd=fd)
        here = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        if (here.st_dev, here.st_ino) == (st.st_dev, st.st_ino):
            os.rmdir(name, dir_fd=parent_fd)
    finally:
        os.close(fd)


def place_file(
    finished: str | Path,
    destination: Path,
    overwrite: bool,
    *,
    finished_dir_fd: int | None = None,
    destination_dir_fd: int | None = None,
) -> None:
    """Move `finished` to `destination` durably; without `overwrite`, a file that appeared
    at `destination` meanwhile is left untouched and DestinationExists is raised.

    With dir fds, names are relative to them: the folders opened when the job began.
    """
    fd = os.open(finished, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=finished_dir_fd)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    folder_fd = (
        destination_dir_fd if destination_dir_fd is not None else os.open(destination.parent, _DIRECTORY)
    )
    name, src_fd = destination.name, finished_dir_fd
    try:
        if overwrite:
            check_destination(destination, overwrite, folder_fd)
            os.replace(
                finished, name, src_dir_fd=src_fd, dst_dir_fd=folder_fd
            )  # the name, not a link's target
        else:
            try:
                os.link(finished, name, src_dir_fd=src_fd, dst_dir_fd=folder_fd, follow_symlinks=False)
            except FileExistsError:
                raise _appeared(destination) from None
            except OSError:  # a filesystem without hard links: check, then rename
                if _exists(name, folder_fd):
                    raise _appeared(destination) from None
                os.rename(finished, name, src_dir_fd=src_fd, dst_dir_fd=folder_fd)
            else:
                os.unlink(finished, dir_fd=finished_dir_fd)
        os.fsync(folder_fd)
    finally:
        if destination_dir_fd is None:
            os.close(folder_fd)


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _appeared(destination: Path) -> DestinationExists:
    return DestinationExists(f"{destination} appeared while the job ran; it was left untouched.")
