"""The exceptions core raises. `str(exc)` is the one sentence a user sees."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diskscope.core.inspect.verdict import Violation


class DiskscopeError(Exception):
    """Base of every error a user can cause; its message is one sentence."""


class InvalidPath(DiskscopeError):
    """The path does not name a regular file we can read."""


class QemuImgNotFound(DiskscopeError):
    """No usable qemu-img binary."""


class QemuImgError(DiskscopeError):
    """qemu-img ran and failed."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class QemuImgLimitExceeded(QemuImgError):
    """qemu-img was stopped by its CPU-time, memory or wall-clock limit."""


class UnsafeImage(DiskscopeError):
    """The image failed the safety gate; `violations` says why."""

    def __init__(self, message: str, violations: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations

    @classmethod
    def refused(cls, subject: str, violations: Sequence[Violation]) -> UnsafeImage:
        """The one refusal sentence: `subject` names the image, the first violation says why."""
        return cls(f"{subject} was refused: {violations[0].message}", tuple(violations))


class Cancelled(DiskscopeError):
    """The user cancelled the job; `signo` is the signal that asked (the CLI exits 128 + it)."""

    signo: int = 2  # SIGINT: Ctrl-C, or Cancel in the window


class NotEnoughSpace(DiskscopeError):
    """The destination filesystem cannot hold the output (a conversion's or a download's)."""


class ConversionStalled(DiskscopeError):
    """qemu-img made no progress and did no I/O for the stall timeout."""
