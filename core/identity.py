"""Which file, and in what state: what a conversion checks between inspecting its source
and reading it, so that the file qemu-img reads is the one that was inspected."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .errors import SourceChanged


@dataclass(frozen=True)
class FileIdentity:
    """Which file, and in what state: st_ctime_ns changes on every write, rename or chmod,
    and unlike st_mtime_ns no `utime` can put it back."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def file_identity(path: str | os.PathLike[str]) -> FileIdentity:
    """The identity and state of a file: a replaced, truncated or rewritten source changes it."""
    try:
        st = os.stat(path)
    except OSError:
        raise SourceChanged("The source file disappeared during the conversion.") from None
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled_identity(path: str | os.PathLike[str]) -> FileIdentity:
    """The identity, taken once the clock has moved past the file's last change.

    Timestamps come from a coarse clock (one tick, or a whole second on filesystems that
    store seconds only): a write in the same tick as the last one would keep st_ctime_ns.
    Waiting until the clock has passed the tick makes any later write visible. A ctime
    in the future (a clock that was ahead) could be matched by a write once the clock gets
    there, so such a file is refused.
    """
    for _ in range(3):
        identity = file_identity(path)
        grain = 2_000_000_000 if identity.ctime_ns % 1_000_000_000 == 0 else 50_000_000
        wait = identity.ctime_ns + grain - time.time_ns()
        if wait <= 0:
            return identity
        if wait > 2 * grain:
            raise SourceChanged("The source file was last changed in the future by this system's clock; "
                                "fix the clock or touch the file, then convert it again.")  # fmt: skip
        time.sleep(wait / 1e9)
        if file_identity(path) == identity:
            return identity
    raise SourceChanged("The source file is still being written; convert it once it is finished.")
