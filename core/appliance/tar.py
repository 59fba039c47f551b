"""An OVA's tar, listed in place: each member's name and where its bytes are, never extracted.

Nothing here writes a file, so a hostile member name could do no harm by itself; it is
refused anyway, because an OVA that holds one was made to attack tools that do extract
(and a `..` name could make a disk's href mean a file outside the archive). Only plain
regular members are accepted: a link, a device, a folder or a GNU sparse member (old GNU
or pax form) has no contiguous bytes to read and no place in an appliance.
"""

from __future__ import annotations

import logging
import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ApplianceProblem, InvalidPath, UnsafeAppliance
from ..inspect.inspector import check_regular_file
from ..text import printable

logger = logging.getLogger(__name__)

MAX_MEMBERS = 1000  # an appliance holds a descriptor, a manifest, a certificate and its disks
MAX_EXTENDED_HEADER = 64 * 1024  # a pax header or GNU long name; tarfile reads it whole
_EXTENDED = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
             tarfile.GNUTYPE_LONGLINK)  # fmt: skip

_KINDS = {
    tarfile.SYMTYPE: "a symbolic link",
    tarfile.LNKTYPE: "a hard link",
    tarfile.CHRTYPE: "a character device",
    tarfile.BLKTYPE: "a block device",
    tarfile.FIFOTYPE: "a named pipe",
    tarfile.DIRTYPE: "a folder",
    tarfile.CONTTYPE: "a contiguous file",
    tarfile.GNUTYPE_SPARSE: "a sparse file",
}


class _BoundedTarInfo(tarfile.TarInfo):
    """tarfile reads a pax header or a GNU long name into memory whole, whatever size its
    header claims; this refuses one larger than any real name needs before it is read
    (`_proc_member` is the hook tarfile offers subclasses for their own member types)."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.type in _EXTENDED and self.size > MAX_EXTENDED_HEADER:
            raise tarfile.HeaderError(f"an extended header of {self.size} bytes")
        return super()._proc_member(tar)  # type: ignore[misc,no-any-return]


@dataclass(frozen=True)
class Piece:
    """`size` bytes of the file at `path` from `offset`: a tar member, or a whole loose file."""

    name: str  # as the appliance names it (the member name, or the file name beside the .ovf)
    path: str  # absolute
    offset: int
    size: int
    # (st_dev, st_ino, st_ctime_ns) of the file before anything was read: a conversion uses
    # the bytes only while the file is still the one the manifest and inspection vouched for
    identity: tuple[int, int, int]

    def read(self, limit: int) -> bytes:
        """The whole piece, which must not be larger than `limit` bytes (a descriptor)."""
        if self.size > limit:
            raise UnsafeAppliance(
                f"{printable(self.name)} is {self.size:,} bytes long, more than the {limit:,} an "
                "appliance's descriptor or manifest may be.",
                ApplianceProblem.DESCRIPTOR,
            )
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.size)
        if len(data) != self.size:
            raise UnsafeAppliance(f"{printable(self.name)} is cut short.", ApplianceProblem.TRUNCATED)
        return data


def list_members(path: str | os.PathLike[str]) -> tuple[Piece, ...]:
    """Every member of the tar at `path`, in archive order; UnsafeAppliance for anything
    that is not a plain file with a plain, unique name inside the archive's length."""
    archive = check_regular_file(path)
    identity, size = file_state(archive)
    pieces: list[Piece] = []
    seen: set[str] = set()
    try:
        with tarfile.open(archive, mode="r:", tarinfo=_BoundedTarInfo) as tar:
            for member in tar:
                if len(pieces) >= MAX_MEMBERS:
                    raise _refused(
                        archive, f"it holds more than {MAX_MEMBERS} files", ApplianceProblem.DESCRIPTOR
                    )
                name = _checked_name(archive, member)
                if name in seen:
                    raise _refused(
                        archive,
                        f"it holds two files named {printable(name)!r}",
                        ApplianceProblem.DUPLICATE_MEMBER,
                    )
                seen.add(name)
                if member.size < 0:  # base-256 with the sign bit: tarfile would walk backwards
                    raise _refused(archive, f"its file {printable(name)!r} has a negative size",
                                   ApplianceProblem.BAD_TAR)  # fmt: skip
                if member.offset_data + member.size > size:
                    raise _refused(
                        archive, f"its file {printable(name)!r} runs past the end of the archive",
                        ApplianceProblem.TRUNCATED,
                    )  # fmt: skip
                pieces.append(Piece(name, str(archive), member.offset_data, member.size, identity))
    except (tarfile.TarError, UnicodeError, ValueError) as exc:
        logger.info("tar listing of %s failed: %r", archive, exc)
        raise _refused(archive, "it is not a readable tar archive", ApplianceProblem.BAD_TAR) from None
    except OSError as exc:
        raise InvalidPath(f"{archive} cannot be read: {exc.strerror}.") from None
    return tuple(pieces)


def file_state(path: str | os.PathLike[str]) -> tuple[tuple[int, int, int], int]:
    """A file's (st_dev, st_ino, st_ctime_ns), and its size."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_ctime_ns), st.st_size


def _checked_name(archive: Path, member: tarfile.TarInfo) -> str:
    raw = member.name
    shown = repr(printable(raw))
    # A pax sparse member (GNU.sparse.* records) keeps the regular type flag, and tarfile
    # gives it its expanded size: listed as regular, its bytes would run into the next member.
    if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE) or member.issparse():
        kind = "a sparse file" if member.issparse() else _KINDS.get(member.type, "not a regular file")
        raise _refused(archive, f"its member {shown} is {kind}", ApplianceProblem.MEMBER_TYPE)
    if not raw or raw.startswith("/") or "\\" in raw:
        raise _refused(
            archive, f"its member name {shown} is not a plain relative path", ApplianceProblem.MEMBER_NAME
        )
    if ".." in raw.split("/"):
        raise _refused(
            archive, f"its member name {shown} climbs out of the archive", ApplianceProblem.MEMBER_NAME
        )
    name = posixpath.normpath(raw)
    if name in ("", "."):
        raise _refused(archive, f"its member name {shown} is not a file name", ApplianceProblem.MEMBER_NAME)
    return name


def _refused(archive: Path, why: str, problem: ApplianceProblem) -> UnsafeAppliance:
    return UnsafeAppliance(f"{archive} was refused: {why}; nothing was extracted.", problem)
