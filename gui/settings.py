"""Typed access to QSettings: every setting is declared once, in `Settings`' table of
options (key, stored type, default), as Picard's options are; reading one always passes
its default and its type."""

from __future__ import annotations

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

MAX_RECENT = 10
T = TypeVar("T")


class Option(Generic[T]):
    """One setting, read and written as an attribute of `Settings`.

    `stored` is the type QSettings keeps; `decode` and `encode` convert between it and the
    attribute's value where they differ (a set kept as `a,b`, "no limit" kept as 0). A
    stored value of the wrong type reads as the default.
    """

    def __init__(
        self,
        key: str,
        stored: type,
        default: T,
        decode: Callable[[Any], T] | None = None,
        encode: Callable[[T], object] | None = None,
    ) -> None:
        self.key, self.stored, self.default = key, stored, default
        self._decode, self._encode = decode, encode
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
        fallback = self.encode(self.default)
        value: Any = settings.store.value(self.key, fallback, type=self.stored)
        if not isinstance(value, self.stored):
            value = fallback
        return self._decode(value) if self._decode is not None else value

    def __set__(self, settings: Settings, value: T) -> None:
        settings.store.setValue(self.key, self.encode(value))


def _vmdk_types(text: str) -> frozenset[str]:
    """An empty text allows no VMDK, a damaged one falls back to the default."""
    try:
        return parse_vmdk_types(text)
    except InvalidPolicy:
        return DEFAULT_POLICY.vmdk_allowed_types


def _vmdk_text(types: frozenset[str]) -> str:
    return ",".join(t for t in VMDK_SINGLE_FILE_TYPES if t in types)


def _bytes_or_none(value: int) -> int | None:
    return value if value > 0 else None


class Settings:
    qemu_img_path = Option("qemu/path", str, "")
    cpu_limit = Option("qemu/cpu_seconds", int, INSPECTION_LIMITS.cpu_seconds)
    memory_limit_mib = Option("qemu/memory_mib", int, INSPECTION_LIMITS.memory_bytes >> 20)
    parallel_inspections = Option("inspect/parallel", int, max(2, os.cpu_count() or 2))
    vmdk_allowed_types = Option(
        "inspect/vmdk_allowed_types", str, DEFAULT_POLICY.vmdk_allowed_types, _vmdk_types, _vmdk_text
    )
    # Bytes; None (stored as 0) for no limit.
    max_virtual_size: Option[int | None] = Option(
        "inspect/max_virtual_size", int, None, _bytes_or_none, lambda size: size or 0
    )
    destination_folder = Option("jobs/destination", str, str(Path.home()))
    concurrent_jobs = Option("jobs/concurrent", int, 2)
    force_raw = Option("fetch/force_raw", bool, True)
    ca_bundle = Option("fetch/ca_bundle", str, "")
    verify_tls = Option("fetch/verify_tls", bool, True)
    verify_after_convert = Option("convert/verify", bool, True)

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings()

    @classmethod
    def options(cls) -> list[Option[Any]]:
        """The table: every declared setting, in declaration order."""
        return [value for value in vars(cls).values() if isinstance(value, Option)]

    def policy(self) -> InspectionPolicy:
        return InspectionPolicy(self.vmdk_allowed_types, self.max_virtual_size)

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
