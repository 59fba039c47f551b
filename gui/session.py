"""What the window has open: the qemu-img it runs (or why there is none), the images (the
list's model), the integrity checks run on them, and the progress of the current batch of
inspections. The window shows it; it holds no widgets."""

from __future__ import annotations

import os
from dataclasses import replace

from ..core.fetch.sums import SumsCheck
from ..core.qemu.image_info import ImageInfo
from ..core.qemu.qemu_img import QemuImg
from ..core.qemu.results import CheckResult
from .models.image_list import EntryState, ImageEntry, ImageListModel


class Session:
    def __init__(self) -> None:
        self.qemu: QemuImg | None = None
        self.qemu_error = ""  # why there is no qemu-img, in one sentence
        self.images = ImageListModel()
        self.checks: dict[str, CheckResult] = {}
        self.batch_total = 0  # inspections asked for since the runner was last idle
        self.batch_done = 0
        self._pasted = 0

    def open(self, paths: list[str], runner_idle: bool) -> int:
        """Add (or reset) a row per path, forgetting their old checks; the first one's row."""
        if runner_idle:
            self.batch_total = self.batch_done = 0
        self.batch_total += len(paths)
        rows = [self.images.upsert(ImageEntry(path, os.path.basename(path))) for path in paths]
        for path in paths:
            self.checks.pop(path, None)
        return rows[0] if rows else -1

    def inspected(self, entry: ImageEntry) -> int:
        """An inspection's result (or failure): its row, or -1 if it was closed meanwhile."""
        self.batch_done += 1
        return self.store(entry)

    def store(self, entry: ImageEntry) -> int:
        if self.images.row_of(entry.key) < 0:
            return -1  # closed while it was being inspected
        return self.images.upsert(entry)

    def sums_checked(self, key: str, details: object, check: SumsCheck) -> int:
        """A checksum's result, kept only if the image was not closed or refreshed since."""
        row = self.images.row_of(key)
        if row < 0 or self.images.entry(row).details is not details:
            return -1
        return self.images.upsert(replace(self.images.entry(row), checksum=check))

    def paste(self, info: ImageInfo, text: str) -> int:
        self._pasted += 1
        name = f"{os.path.basename(info.filename)} (pasted)"
        entry = ImageEntry(f"pasted:{self._pasted}", name, EntryState.PASTED, pasted=info, pasted_text=text)
        return self.images.upsert(entry)

    def close(self, row: int) -> None:
        self.checks.pop(self.images.entry(row).key, None)
        self.images.remove(row)
