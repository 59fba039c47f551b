"""Our own format and safety inspector: pure Python, headers only, bounded memory.

Every file is judged here before qemu-img may open it. The same verdict comes
from a local file (`inspect_file`) and from a stream fed chunk by chunk
(`StreamInspector`), whatever the chunk sizes.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InvalidPath
from ..formats import ImageFormat, format_from_extension, same_driver
from . import by_magic, content, luks, partitions, qcow, vdi, vhd, vmdk
from .detection import Detection
from .verdict import Violation, ViolationCode
from .view import HeaderView, Region, StreamCollector, read_file_view

DETECTORS = (
    qcow.detect,
    vmdk.detect,
    vhd.detect_vpc,
    vhd.detect_vhdx,
    vdi.detect,
    luks.detect,
    by_magic.detect_banned,
    by_magic.detect_parallels,
    partitions.detect_iso,
    partitions.detect_gpt,
    partitions.detect_mbr,
)


def _wants(view: HeaderView) -> list[Region]:
    return [*qcow.wants(view), *vhd.wants_vhdx(view)]


@dataclass(frozen=True)
class InspectionResult:
    format: ImageFormat
    virtual_size: int | None
    file_size: int | None
    subformat: str | None = None
    cluster_size: int | None = None
    backing_file: str | None = None
    data_file: str | None = None
    encrypted: bool = False
    details: Mapping[str, object] = field(default_factory=dict)
    matches: tuple[ImageFormat, ...] = ()
    declared: ImageFormat | None = None
    violations: tuple[Violation, ...] = ()
    # Worth telling the user, but no danger to the host: they do not make the file unsafe.
    warnings: tuple[Violation, ...] = ()

    @property
    def safe(self) -> bool:
        return not self.violations


def analyze(view: HeaderView, declared: ImageFormat | None = None) -> InspectionResult:
    """The verdict on what the view holds."""
    found = [d for d in (detect(view) for detect in DETECTORS) if d is not None]
    primary, problems = _choose(found, view)
    if declared is not None and not same_driver(declared, primary.format):
        problems.append(
            Violation(
                ViolationCode.FORMAT_MISMATCH,
                f"The image claims to be {declared.value} but its content is {primary.format.value}.",
            )
        )
    return InspectionResult(
        format=primary.format,
        virtual_size=primary.virtual_size,
        file_size=view.size,
        subformat=primary.subformat,
        cluster_size=primary.cluster_size,
        backing_file=primary.backing_file,
        data_file=primary.data_file,
        encrypted=primary.encrypted,
        details=primary.details,
        matches=tuple(d.format for d in found),
        declared=declared,
        violations=_unique([*primary.violations, *problems]),
        warnings=partitions.table_warnings(view.head) if primary.format.is_raw_family else (),
    )


def _choose(found: list[Detection], view: HeaderView) -> tuple[Detection, list[Violation]]:
    """The one format the file is, or the first of several with an ambiguity violation."""
    if not found:
        return content.detect(view) or Detection(ImageFormat.RAW, virtual_size=view.size), []
    images = [d for d in found if not d.format.is_raw_family]
    disks = [d for d in found if d.format.is_raw_family]
    if not images:
        return disks[0], []  # ISO before GPT before MBR: hybrids name the outermost
    fixed_vhd = len(images) == 1 and images[0].format == ImageFormat.VPC
    fixed_vhd = fixed_vhd and images[0].subformat == "fixed"
    if len(images) == 1 and (not disks or fixed_vhd):
        return images[0], []
    names = ", ".join(d.format.value for d in found)
    return images[0], [
        Violation(
            ViolationCode.AMBIGUOUS_FORMAT,
            f"The file matches more than one format ({names}).",
        )
    ]


def _unique(violations: Iterable[Violation]) -> tuple[Violation, ...]:
    return tuple(dict.fromkeys(violations))


class StreamInspector:
    """Judges a stream as it passes; `early_result` is ready after the first ~2 MiB."""

    def __init__(self, declared: ImageFormat | None = None) -> None:
        self.declared = declared
        self._collector = StreamCollector(_wants)

    def feed(self, data: bytes) -> None:
        self._collector.feed(data)

    @property
    def buffered(self) -> int:
        return self._collector.buffered

    def early_result(self) -> InspectionResult | None:
        """A verdict on the headers, before the stream ends, once they have all arrived."""
        if not self._collector.settled:
            return None
        return analyze(self._collector.view(finished=False), self.declared)

    def finish(self) -> InspectionResult:
        return analyze(self._collector.view(finished=True), self.declared)

    def result_so_far(self) -> InspectionResult:
        """The verdict on what has arrived, with any region still to come seen as absent."""
        return analyze(self._collector.view(finished=False), self.declared)


def check_regular_file(path: str | os.PathLike[str]) -> Path:
    """The absolute path of the regular file `path` names (following symlinks), or InvalidPath."""
    given = Path(os.path.abspath(path))
    try:
        st = os.stat(given)
    except FileNotFoundError:
        if given.is_symlink():
            raise InvalidPath(f"{given} is a symbolic link to a file that does not exist.") from None
        raise InvalidPath(f"{given} does not exist.") from None
    except PermissionError:
        raise InvalidPath(f"{given} cannot be read: permission denied.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InvalidPath(f"{given} is a symbolic link loop.") from None
        if exc.errno == errno.ENAMETOOLONG:
            raise InvalidPath(f"The path {given} is too long.") from None
        raise InvalidPath(f"{given} cannot be read: {exc.strerror}.") from None
    _require_regular(given, st.st_mode)
    return given


def _require_regular(path: Path, mode: int) -> None:
    kinds = {
        stat.S_ISDIR: "a directory",
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    for test, what in kinds.items():
        if test(mode):
            raise InvalidPath(f"{path} is {what}, not a disk image file.")
    if not stat.S_ISREG(mode):
        raise InvalidPath(f"{path} is not a regular file.")


def inspect_file(path: str | os.PathLike[str], declared: ImageFormat | None = None) -> InspectionResult:
    """Inspect a local file; `declared` defaults to what an unambiguous extension says."""
    given = check_regular_file(path)
    if declared is None:
        declared = format_from_extension(given)
    return _inspect_open(given, declared, None)


def inspect_range(
    path: str | os.PathLike[str], offset: int, size: int, declared: ImageFormat | None
) -> InspectionResult:
    """Inspect the `size` bytes at `offset` of a local file as if they were a file of their
    own (a disk inside an OVA's tar), reading only the headers, in place."""
    return _inspect_open(check_regular_file(path), declared, (offset, size))


def _inspect_open(
    given: Path, declared: ImageFormat | None, byte_range: tuple[int, int] | None
) -> InspectionResult:
    try:
        # O_NONBLOCK: if the path was swapped for a FIFO since the check, open() must not hang.
        fd = os.open(given, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidPath(f"{given} cannot be opened: {exc.strerror}.") from None
    try:
        st = os.fstat(fd)
        _require_regular(given, st.st_mode)
        base, size = byte_range or (0, st.st_size)
        if base + size > st.st_size:
            raise InvalidPath(
                f"{given} is shorter than the {size}-byte range at offset {base} that holds a disk."
            )
        view = read_file_view(fd, size, _wants, base)
    except OSError as exc:
        raise InvalidPath(f"{given} cannot be read: {exc.strerror}.") from None
    finally:
        os.close(fd)
    return analyze(view, declared)
