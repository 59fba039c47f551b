"""What qemu-img's answers mean: `check` exit codes and JSON, `map` extents, `measure`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ..errors import QemuImgError
from .process import Completed, failure, last_line


class CheckStatus(StrEnum):
    CLEAN = "clean"
    LEAKS = "leaks"
    CORRUPT = "corrupt"
    INCOMPLETE = "incomplete"
    UNSUPPORTED = "unsupported"


_CHECK_EXIT = {
    0: CheckStatus.CLEAN,
    1: CheckStatus.INCOMPLETE,
    2: CheckStatus.CORRUPT,
    3: CheckStatus.LEAKS,
    63: CheckStatus.UNSUPPORTED,
}


@dataclass(frozen=True)
class CheckResult:
    status: CheckStatus
    exit_code: int
    corruptions: int = 0
    leaks: int = 0
    check_errors: int = 0
    total_clusters: int | None = None
    allocated_clusters: int | None = None
    fragmented_clusters: int | None = None
    compressed_clusters: int | None = None
    image_end_offset: int | None = None
    detail: str = ""

    @property
    def summary(self) -> str:
        """One sentence in plain words."""
        if self.status == CheckStatus.CLEAN:
            return "No errors were found on the image."
        if self.status == CheckStatus.LEAKS:
            return (
                f"{self.leaks} leaked clusters were found: space is wasted but no data is at "
                "risk; a repair (qemu-img check -r leaks) reclaims it."
            )
        if self.status == CheckStatus.CORRUPT:
            return (
                f"{self.corruptions} corruptions were found: data may be lost; restore the "
                "image from a good copy rather than repair it."
            )
        if self.status == CheckStatus.UNSUPPORTED:
            return "This image format has no integrity metadata to check."
        return f"The check could not be completed: {self.detail or 'internal error'}."


@dataclass(frozen=True)
class MapExtent:
    start: int
    length: int
    depth: int
    present: bool
    zero: bool
    data: bool
    offset: int | None = None


@dataclass(frozen=True)
class Measurement:
    required: int
    fully_allocated: int
    bitmaps: int | None = None


def parse_check(done: Completed) -> CheckResult:
    """A `qemu-img check` run as a CheckResult (its exit code documents the status)."""
    status = _CHECK_EXIT.get(done.returncode)
    if status is None:
        raise failure(done)
    if status in (CheckStatus.UNSUPPORTED, CheckStatus.INCOMPLETE) and not done.stdout.strip():
        return CheckResult(status, done.returncode, detail=last_line(done.stderr))
    try:
        data = json.loads(done.stdout)
    except ValueError:
        return CheckResult(status, done.returncode, detail=last_line(done.stderr))
    return CheckResult(
        status=status,
        exit_code=done.returncode,
        corruptions=int(data.get("corruptions", 0)),
        leaks=int(data.get("leaks", 0)),
        check_errors=int(data.get("check-errors", 0)),
        total_clusters=data.get("total-clusters"),
        allocated_clusters=data.get("allocated-clusters"),
        fragmented_clusters=data.get("fragmented-clusters"),
        compressed_clusters=data.get("compressed-clusters"),
        image_end_offset=data.get("image-end-offset"),
        detail=last_line(done.stderr) if done.stderr.strip() else "",
    )


def parse_map(data: Any, max_extents: int) -> list[MapExtent]:
    """`qemu-img map` JSON as extents, at most `max_extents` of them."""
    if not isinstance(data, list):
        raise QemuImgError("qemu-img map printed something other than a list.")
    return [
        MapExtent(
            start=int(e["start"]),
            length=int(e["length"]),
            depth=int(e.get("depth", 0)),
            present=bool(e.get("present", e.get("data", False))),
            zero=bool(e.get("zero", False)),
            data=bool(e.get("data", False)),
            offset=e.get("offset"),
        )
        for e in data[:max_extents]
    ]


def parse_measurement(data: Any) -> Measurement:
    return Measurement(
        required=int(data["required"]),
        fully_allocated=int(data["fully-allocated"]),
        bitmaps=data.get("bitmaps"),
    )
