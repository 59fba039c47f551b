"""What one format analyzer concludes about a file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..formats import ImageFormat
from .verdict import Violation, ViolationCode


@dataclass(frozen=True)
class Detection:
    format: ImageFormat
    virtual_size: int | None = None
    subformat: str | None = None
    cluster_size: int | None = None
    backing_file: str | None = None
    data_file: str | None = None
    encrypted: bool = False
    details: Mapping[str, object] = field(default_factory=dict)
    violations: tuple[Violation, ...] = ()


def violation(code: ViolationCode, message: str) -> Violation:
    return Violation(code, message)


def truncated(fmt: str, needed: int, size: int) -> Violation:
    return Violation(
        ViolationCode.TRUNCATED,
        f"The file has the {fmt} signature but is only {size} bytes long, "
        f"too short for its {needed}-byte header.",
    )


def implausible(message: str) -> Violation:
    return Violation(ViolationCode.IMPLAUSIBLE_HEADER, message)
