"""Typed access to QSettings, every value with a default and a type."""

from __future__ import annotations

import os
from pathlib import Path

from diskscope.core.policy import (
    DEFAULT_POLICY,
    VMDK_SINGLE_FILE_TYPES,
    InspectionPolicy,
    InvalidPolicy,
    parse_vmdk_types,
)
from diskscope.core.qemu_img import INSPECTION_LIMITS, Limits
from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 10


class Settings:
    def __init__(self, store: QSettings | None = None) -> None:
        self.store = store if store is not None else QSettings()

    def _get(self, key: str, default: object, kind: type) -> object:
        return self.store.value(key, default, type=kind)

    def _int(self, key: str, default: int) -> int:
        value = self._get(key, default, int)
        return value if isinstance(value, int) else default

    @property
    def qemu_img_path(self) -> str:
        return str(self._get("qemu/path", "", str))

    @qemu_img_path.setter
    def qemu_img_path(self, value: str) -> None:
        self.store.setValue("qemu/path", value)

    @property
    def cpu_limit(self) -> int:
        return self._int("qemu/cpu_seconds", INSPECTION_LIMITS.cpu_seconds)

    @cpu_limit.setter
    def cpu_limit(self, value: int) -> None:
        self.store.setValue("qemu/cpu_seconds", value)

    @property
    def memory_limit_mib(self) -> int:
        default = INSPECTION_LIMITS.memory_bytes >> 20
        return self._int("qemu/memory_mib", default)

    @memory_limit_mib.setter
    def memory_limit_mib(self, value: int) -> None:
        self.store.setValue("qemu/memory_mib", value)

    @property
    def parallel_inspections(self) -> int:
        default = max(2, os.cpu_count() or 2)
        return self._int("inspect/parallel", default)

    @parallel_inspections.setter
    def parallel_inspections(self, value: int) -> None:
        self.store.setValue("inspect/parallel", value)

    def _bool(self, key: str, default: bool) -> bool:
        value = self._get(key, default, bool)
        return value if isinstance(value, bool) else default

    def _str(self, key: str, default: str) -> str:
        value = self._get(key, default, str)
        return value if isinstance(value, str) else default

    @property
    def destination_folder(self) -> str:
        return self._str("jobs/destination", str(Path.home()))

    @destination_folder.setter
    def destination_folder(self, value: str) -> None:
        self.store.setValue("jobs/destination", value)

    @property
    def force_raw(self) -> bool:
        return self._bool("fetch/force_raw", True)

    @force_raw.setter
    def force_raw(self, value: bool) -> None:
        self.store.setValue("fetch/force_raw", value)

    @property
    def concurrent_jobs(self) -> int:
        return self._int("jobs/concurrent", 2)

    @concurrent_jobs.setter
    def concurrent_jobs(self, value: int) -> None:
        self.store.setValue("jobs/concurrent", value)

    @property
    def ca_bundle(self) -> str:
        return self._str("fetch/ca_bundle", "")

    @ca_bundle.setter
    def ca_bundle(self, value: str) -> None:
        self.store.setValue("fetch/ca_bundle", value)

    @property
    def verify_tls(self) -> bool:
        return self._bool("fetch/verify_tls", True)

    @verify_tls.setter
    def verify_tls(self, value: bool) -> None:
        self.store.setValue("fetch/verify_tls", value)

    @property
    def verify_after_convert(self) -> bool:
        return self._bool("convert/verify", True)

    @verify_after_convert.setter
    def verify_after_convert(self, value: bool) -> None:
        self.store.setValue("convert/verify", value)

    @property
    def vmdk_allowed_types(self) -> frozenset[str]:
        """Stored as `a,b`; an empty text allows no VMDK, a damaged one falls back to both."""
        default = ",".join(VMDK_SINGLE_FILE_TYPES)
        try:
            return parse_vmdk_types(self._str("inspect/vmdk_allowed_types", default))
        except InvalidPolicy:
            return DEFAULT_POLICY.vmdk_allowed_types

    @vmdk_allowed_types.setter
    def vmdk_allowed_types(self, value: frozenset[str]) -> None:
        names = [t for t in VMDK_SINGLE_FILE_TYPES if t in value]
        self.store.setValue("inspect/vmdk_allowed_types", ",".join(names))

    @property
    def max_virtual_size(self) -> int | None:
        """Bytes; None (stored as 0) for no limit."""
        value = self._int("inspect/max_virtual_size", 0)
        return value if value > 0 else None

    @max_virtual_size.setter
    def max_virtual_size(self, value: int | None) -> None:
        self.store.setValue("inspect/max_virtual_size", value or 0)

    def policy(self) -> InspectionPolicy:
        return InspectionPolicy(self.vmdk_allowed_types, self.max_virtual_size)

    def limits(self) -> Limits:
        return Limits(cpu_seconds=self.cpu_limit, memory_bytes=self.memory_limit_mib << 20)

    @property
    def recent_files(self) -> list[str]:
        value = self._get("recent/files", [], list)
        return [str(v) for v in value] if isinstance(value, list) else []

    def add_recent(self, path: str) -> None:
        files = [path, *(p for p in self.recent_files if p != path)][:MAX_RECENT]
        self.store.setValue("recent/files", files)

    def clear_recent(self) -> None:
        self.store.setValue("recent/files", [])

    def window_state(self, key: str) -> QByteArray:
        value = self._get(f"window/{key}", QByteArray(), QByteArray)
        return value if isinstance(value, QByteArray) else QByteArray()

    def set_window_state(self, key: str, value: QByteArray) -> None:
        self.store.setValue(f"window/{key}", value)

    def sync(self) -> None:
        self.store.sync()
