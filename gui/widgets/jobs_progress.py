"""The jobs at once, in the status bar: for when the jobs dock is hidden."""

from __future__ import annotations

from PySide6.QtCore import Slot
from PySide6.QtWidgets import QProgressBar

from ..jobs import JobManager
from ..models.jobs import progress_fraction, status_text


class JobsProgress(QProgressBar):
    """A share when every running job knows its own, else a busy bar; hidden when no job
    is left. The tooltip names each running job and what it is doing."""

    def __init__(self, jobs: JobManager) -> None:
        super().__init__()
        self.jobs = jobs
        self.setMaximumWidth(220)
        self.hide()
        jobs.changed.connect(self._changed)

    @Slot(int)
    def _changed(self, _job_id: int) -> None:
        active = self.jobs.active
        self.setVisible(bool(active))
        if not active:
            return
        fractions = [progress_fraction(r) for r in active]
        known = [f for f in fractions if f is not None and f >= 0]
        self.setFormat(f"{len(active)} job(s): %p%" if len(known) == len(active) else "")
        self.setRange(0, 1000 if len(known) == len(active) else 0)
        self.setValue(int(sum(known) / len(active) * 1000))
        self.setToolTip("\n".join(f"{r.name}: {status_text(r)}" for r in active))
