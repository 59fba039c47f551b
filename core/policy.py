"""The user's inspection policy: rules a site sets on top of the safety gate.

Nova and Glance let an operator narrow which VMDK create types are accepted
(`vmdk_allowed_types`) and Nova refuses an image larger than the flavor's disk.
A policy can only narrow what the gate accepts, never widen it: a VMDK type that
keeps its data in other files stays refused whatever the policy says, because
the policy is a preference and those files are a way out of the image.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from . import sizes
from .errors import InvalidPolicy as InvalidPolicy  # imported from here too
from .formats import ImageFormat
from .inspect.verdict import Violation, ViolationCode
from .inspect.vmdk import SINGLE_FILE_TYPES
from .sizes import size_with_exact

# The order people read them in, for messages and the Settings dialog.
VMDK_SINGLE_FILE_TYPES = ("monolithicSparse", "streamOptimized")


class PolicyRule(StrEnum):
    VMDK_ALLOWED_TYPES = "vmdk_allowed_types"
    MAX_VIRTUAL_SIZE = "max_virtual_size"


_ADVICE = {
    PolicyRule.VMDK_ALLOWED_TYPES: (
        "Your policy does not accept this VMDK type; convert the image on a machine you trust, "
        "or allow the type (Settings, or --vmdk-allowed-types)."
    ),
    PolicyRule.MAX_VIRTUAL_SIZE: (
        "The disk is larger than your policy allows; use a smaller image, "
        "or raise the limit (Settings, or --max-virtual-size)."
    ),
}


@dataclass(frozen=True)
class PolicyViolation(Violation):
    """A rule of the user's policy that the image breaks (`code` POLICY), with its own advice."""

    rule: PolicyRule

    @property
    def advice(self) -> str:
        return _ADVICE[self.rule]

    def to_json(self) -> dict[str, str]:
        return {**super().to_json(), "rule": self.rule.value}


@dataclass(frozen=True)
class InspectionPolicy:
    """What this user accepts; the default is the gate's own behaviour."""

    vmdk_allowed_types: frozenset[str] = field(default=SINGLE_FILE_TYPES)
    max_virtual_size: int | None = None  # bytes; None: no limit

    def __post_init__(self) -> None:
        wider = sorted(self.vmdk_allowed_types - SINGLE_FILE_TYPES)
        if wider:
            raise InvalidPolicy(_not_single_file(wider[0]))
        if self.max_virtual_size is not None and self.max_virtual_size <= 0:
            raise InvalidPolicy("The maximum virtual size must be greater than zero.")

    def violations(
        self, fmt: ImageFormat, create_types: Iterable[str | None], virtual_size: int | None
    ) -> list[Violation]:
        """The rules an image of this format, VMDK create type(s) and size breaks."""
        problems: list[Violation] = []
        if fmt == ImageFormat.VMDK:
            for ctype in dict.fromkeys(t for t in create_types if t is not None):
                if ctype in SINGLE_FILE_TYPES and ctype not in self.vmdk_allowed_types:
                    problems.append(self._type_violation(ctype))
        limit = self.max_virtual_size
        if limit is not None and virtual_size is not None and virtual_size > limit:
            problems.append(
                PolicyViolation(
                    ViolationCode.POLICY,
                    f"The virtual size of {size_with_exact(virtual_size)} is larger than the "
                    f"{size_with_exact(limit)} your policy allows.",
                    PolicyRule.MAX_VIRTUAL_SIZE,
                )
            )
        return problems

    def _type_violation(self, ctype: str) -> PolicyViolation:
        allowed = [t for t in VMDK_SINGLE_FILE_TYPES if t in self.vmdk_allowed_types]
        why = (
            f"among the allowed types ({_names(allowed)})"
            if allowed
            else "allowed: your policy accepts no VMDK"
        )
        return PolicyViolation(
            ViolationCode.POLICY,
            f"The VMDK create type {ctype} is not {why}.",
            PolicyRule.VMDK_ALLOWED_TYPES,
        )


DEFAULT_POLICY = InspectionPolicy()


def _names(types: Iterable[str]) -> str:
    return ", ".join(types)


def parse_vmdk_types(text: str) -> frozenset[str]:
    """`monolithicSparse,streamOptimized` as typed; an empty text allows no VMDK at all."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name not in SINGLE_FILE_TYPES:
            raise InvalidPolicy(_not_single_file(name))
    return frozenset(names)


def _not_single_file(name: str) -> str:
    return (
        f"The VMDK create type {name!r} cannot be allowed: only "
        f"{' and '.join(VMDK_SINGLE_FILE_TYPES)} keep all their data in one file."
    )


def parse_size(text: str) -> int:
    """A size as typed (core.sizes.parse_size), refused as a policy value."""
    try:
        return sizes.parse_size(text)
    except ValueError as exc:
        raise InvalidPolicy(str(exc)) from None
