"""Typed access to QSettings: every setting is declared once, in `Settings`' table of
options (key, label, stored type, default), as Picard's options are. A stored value that
cannot be read as its type (`cpu_seconds=abc` in the file) is removed, reads as the
default, and is named once in a notice the window shows."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from PySide6.QtCore import QByteArray, QSettings

from ..core.policy import (
    DEFAULT_POLICY,
    VMDK_SINGLE_FILE_TYPES,
    InspectionPolicy,
    InvalidPolicy,
    parse_vmdk_types,
)
from ..core.qemu.process import INSPECTION_LIMITS, Limits

logger = logging.getLogger(__name__)
MAX_RECENT = 10
T = TypeVar("T")


class Option(Generic[T]):
    """One setting, read and written as an attribute of `Settings`.

    `label` names it for a person (the Settings dialog's row, the notice of a reset);
    `stored` is the type QSettings keeps; `decode` and `encode` convert between it and the
    attribute's value where they differ (a set kept as `a,b`, "no limit" kept as 0);
    `bounds` are the lowest and highest number that make sense. A stored value that is not
    of its type, out of its bounds or that `decode` rejects (ValueError) is damaged.
    """

    def __init__(
        self,
        key: str,
        label: str,
        stored: type,
        default: T,
        decode: Callable[[Any], T] | None = None,
        encode: Callable[[T], object] | None = None,
        bounds: tuple[int, int] | None = None,
    ) -> None:
        self.key, self.label, self.stored, self.default = key, label, stored, default
        self._decode, self._encode, self.bounds = decode, encode, bounds
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def encode(self, value: T) -> object:
        return self._encode(value) if self._encode is not None else value

    @overload
    def __get__(self, settings: None, owner: type) -> Option[T]: ...
    @overload
    def __get__(self, settings: Settings, owner: type) -> T: ...
    def __get__(self, settings: Settings | None, owner: type) -> Option[T] | T:
        if settings is None:
            return self
        # Untyped on purpose: a typed read (value(key, default, type=int)) turns `abc` into 0,
        # and the damage could no longer be seen.
        raw = settings.store.value(self.key)
        if raw is None:
            return self.default
        try:
            return self.read(raw)
        except ValueError:
            settings.reset_damaged(self, raw)
            return self.default

    def __set__(self, settings: Settings, value: T) -> None:
        settings.store.setValue(self.key, self.encode(value))

    def read(self, raw: object) -> T:
        """The value QSettings gave (text from the file, or what was set in this run) as the
        attribute's; ValueError if it is damaged."""
        value = _as_stored(raw, self.stored)
        if self.bounds is not None and not self.bounds[0] <= value <= self.bounds[1]:
            raise ValueError(f"{value} is outside {self.bounds}")
        return self._decode(value) if self._decode is not None else value


def _as_stored(raw: object, stored: type) -> Any:
    """`raw` as `stored` (bool, int or str), strictly: QSettings itself reads `abc` as the
    number 0 and as the truth value True."""
    if stored is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower() if isinstance(raw, str) else ""
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    elif stored is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            return int(raw.strip())  # ValueError for "abc", "1.5" and ""
    elif isinstance(raw, stored):
        return raw
    raise ValueError(f"{raw!r} is not a {stored.__name__}")


def _vmdk_types(text: str) -> frozenset[str]:
    """An empty text allows no VMDK; a name we do not know makes the text damaged."""
    try:
        return parse_vmdk_types(text)
    except InvalidPolicy as exc:
        raise ValueError(str(exc)) from exc


def _vmdk_text(types: frozenset[str]) -> str:
    return ",".join(t for t in VMDK_SINGLE_FILE_TYPES if t in types)


def _bytes_or_none(value: int) -> int | None:
    return value if value > 0 else None


class Settings:
    qemu_img_path = Option("qemu/path", "qemu-img binary", str, "")
    cpu_limit = Option(
        "qemu/cpu_seconds", "CPU time per qemu-img call", int, INSPECTION_LIMITS.cpu_seconds, bounds=(1, 3600)
    )
    memory_limit_mib = Option(
        "qemu/memory_mib", "Memory per qemu-img call", int, INSPECTION_LIMITS.memory_bytes >> 20,
        bounds=(64, 65536),
    )  # fmt: skip
    parallel_inspections = Option(
        "inspect/parallel", "Inspections at once", int, max(2, os.cpu_count() or 2), bounds=(1, 64)
    )
    vmdk_allowed_types = Option(
        "inspect/vmdk_allowed_types", "VMDK types accepted", str, DEFAULT_POLICY.vmdk_allowed_types,
        _vmdk_types, _vmdk_text,
    )  # fmt: skip
    # Bytes; None (stored as 0) for no limit.
    max_virtual_size: Option[int | None] = Option(
        "inspect/max_virtual_size", "Largest virtual size", int, None, _bytes_or_none, lambda size: size or 0,
        bounds=(0, 1 << 62),
    )  # fmt: skip
    destination_folder = Option("jobs/destination", "Default destination folder", str, str(Path.home()))
    concurrent_jobs = Option("jobs/concurrent", "Jobs at once", int, 2, bounds=(1, 16))
    force_raw = Option("fetch/force_raw", "Convert fetched images to raw", bool, True)
    ca_bundle = Option("fetch/ca_bundle", "CA bundle", str, "")
    verify_tls = Option("fetch/verify_tls", "Verify TLS certificates", bool, True)
    compare_after_convert = Option(  # qemu-img compare of every byte; the structure is always checked
        "convert/compare", "Compare converted images with their source byte for byte (slower)", bool, False
    )
    # The keyring gpgv verifies signed checksum files (SHA256SUMS.gpg, CHECKSUM) against; "" for none.
    keyring = Option("checksums/keyring", "Checksum signing keys", str, "")

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings()
        self._resets: list[Option[Any]] = []  # damaged and reset, not yet told

    @classmethod
    def options(cls) -> list[Option[Any]]:
        """The table: every declared setting, in declaration order."""
        return [value for value in vars(cls).values() if isinstance(value, Option)]

    def reset_damaged(self, option: Option[Any], raw: object) -> None:
        """Forget a value that cannot be read, so that the default holds from now on."""
        logger.warning("setting %s was damaged (%r); it is reset to its default", option.key, raw)
        self.store.remove(option.key)
        self._resets.append(option)

    def take_reset_notice(self) -> str:
        """One sentence naming the settings reset since it was last asked; "" if none.
        Reading every option first finds each damaged one."""
        for option in self.options():
            getattr(self, option.name)
        labels = [option.label for option in self.options() if option in self._resets]
        self._resets.clear()
        if not labels:
            return ""
        if len(labels) == 1:
            return f"The saved setting “{labels[0]}” was damaged and is back to its default."
        return f"These saved settings were damaged and are back to their defaults: {', '.join(labels)}."

    def policy(self) -> InspectionPolicy:
        return InspectionPolicy(self.vmdk_allowed_types, self.max_virtual_size)

    def keyring_path(self) -> Path | None:
        return Path(self.keyring) if self.keyring else None

    def limits(self) -> Limits:
        return Limits(cpu_seconds=self.cpu_limit, memory_bytes=self.memory_limit_mib << 20)

    @property
    def recent_files(self) -> list[str]:
        value = self.store.value("recent/files", [], type=list)
        return [str(v) for v in value] if isinstance(value, list) else []

    def add_recent(self, path: str) -> None:
        files = [path, *(p for p in self.recent_files if p != path)][:MAX_RECENT]
        self.store.setValue("recent/files", files)

    def clear_recent(self) -> None:
        self.store.setValue("recent/files", [])

    def window_state(self, key: str) -> QByteArray:
        value = self.store.value(f"window/{key}", QByteArray(), type=QByteArray)
        return value if isinstance(value, QByteArray) else QByteArray()

    def set_window_state(self, key: str, value: QByteArray) -> None:
        self.store.setValue(f"window/{key}", value)

    def sync(self) -> None:
        self.store.sync()
