"""The images the user opens, inspected on the window's task runner: each verdict (or
failure) goes into the session, a checksum file beside an image is checked once its
verdict shows, and an integrity check runs when asked. The window shows what changed."""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from ..core.appliance.appliance import ApplianceReport
from ..core.fetch.signature import DETACHED_SUFFIXES
from ..core.fetch.sums import SumsCheck, check_sums, sums_algorithm
from ..core.qemu.results import CheckResult
from ..core.report.details import ImageDetails, gather
from .models.image_list import EntryState, ImageEntry
from .session import Session
from .settings import Settings
from .workers import TaskRunner


def expand_paths(paths: list[str]) -> list[str]:
    """Files as given; every regular, non-hidden file directly inside a given folder but its
    checksum files (SHA256SUMS, its .gpg, ...): each image's row shows what they say of it."""
    result: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            with os.scandir(path) as entries:
                files = sorted(
                    e.path
                    for e in entries
                    if not e.name.startswith(".") and e.is_file() and not is_checksum_file(e.name)
                )
            result += files
        else:
            result.append(path)
    return [os.path.abspath(p) for p in result]


def is_checksum_file(name: str) -> bool:
    """A checksum list (SHA256SUMS, disk.sha256, Fedora's ...-CHECKSUM) or its detached signature."""
    stem, suffix = os.path.splitext(name)
    if suffix.lower() in DETACHED_SUFFIXES and stem:
        name = stem
    return sums_algorithm(Path(name)) is not None


class Inspections(QObject):
    row_changed = Signal(int)  # the row of an entry that changed (one still open)
    message = Signal(str, int)  # for the status bar: the text and for how long (ms)
    checked = Signal(str, object)  # an image's key and its integrity check (a CheckResult)
    check_failed = Signal(str, str)  # an image's key and why its check could not run

    def __init__(self, session: Session, settings: Settings, runner: TaskRunner, parent: QObject) -> None:
        super().__init__(parent)
        self.session, self.settings, self.runner = session, settings, runner
        self._stop_hashing = threading.Event()  # set on close: a hash is not bounded by qemu-img's limits

    def open(self, files: list[str]) -> int:
        """Inspect each file (again), in the runner; the first one's row."""
        first_row = self.session.open(files, runner_idle=not self.runner.pending)
        qemu = self.session.qemu
        for path in files:
            if qemu is None:
                self._failed(path, self.session.qemu_error)
                continue
            self.runner.submit(
                partial(gather, path, qemu, self.settings.policy(), self.settings.keyring_path()),
                partial(self._inspected, path),
                partial(self._failed, path),
            )
            if len(files) == 1:
                self.settings.add_recent(path)
        return first_row

    def _inspected(self, key: str, details: ImageDetails | ApplianceReport) -> None:
        name = os.path.basename(key)
        if isinstance(details, ApplianceReport):  # an OVA or OVF: its disks, each judged
            self._changed(self.session.inspected(ImageEntry(key, name, EntryState.READY, appliance=details)))
            return
        self._changed(self.session.inspected(ImageEntry(key, name, EntryState.READY, details=details)))
        if details.sums is not None:
            self._check_sums(key, details)

    def _check_sums(self, key: str, details: ImageDetails) -> None:
        """Hash the image against the SHA256SUMS beside it, in a task of its own: the
        verdict shows at once, and closing the window stops the hash."""
        assert details.sums is not None
        self.runner.submit(
            partial(check_sums, details.path, details.sums, self._stop_hashing),
            partial(self._sums_checked, key, details),
            self._sums_failed,
        )

    def _sums_checked(self, key: str, details: ImageDetails, check: SumsCheck) -> None:
        self._changed(self.session.sums_checked(key, details, check))

    def _sums_failed(self, message: str) -> None:
        self.message.emit(message, 8000)

    def _failed(self, key: str, message: str) -> None:
        self._changed(
            self.session.inspected(ImageEntry(key, os.path.basename(key), EntryState.FAILED, error=message))
        )
        self.message.emit(message, 8000)

    def _changed(self, row: int) -> None:
        if row >= 0:
            self.row_changed.emit(row)

    def check(self, key: str, details: ImageDetails) -> None:
        """Run `qemu-img check` on an image that passed inspection."""
        qemu = self.session.qemu
        report = details.report
        assert qemu is not None and report.safe
        self.runner.submit(
            partial(qemu.check, os.path.realpath(report.path), report.format.qemu_driver),
            partial(self._checked, key),
            partial(self.check_failed.emit, key),
        )

    def _checked(self, key: str, result: CheckResult) -> None:
        self.session.checks[key] = result
        self.checked.emit(key, result)

    def stop(self) -> None:
        """The window is closing: a running hash stops."""
        self._stop_hashing.set()
