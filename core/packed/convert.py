"""Converting a compressed image: judged by its headers first, inflated (bounded, sparse)
into a private folder beside the destination, then converted by an ordinary ConvertJob,
which runs the whole gate, qemu-img's second opinion included, on the inflated file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..convert.job import ConvertJob, ConvertResult
from ..convert.request import ConvertRequest
from ..errors import Cancelled, SourceChanged
from ..placement import free_space
from ..progress import ProgressCallback
from ..qemu.qemu_img import QemuImg
from .unpack import inflated, judge_headers


class PackedConvertJob:
    """One conversion of a compressed source, run once with `run()`. The request's
    `expected_source` (a verified download) applies to the compressed file."""

    def __init__(
        self,
        request: ConvertRequest,
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        free_space: Callable[[Path], int] = free_space,
    ) -> None:
        self.request, self.qemu, self.on_progress = request, qemu, on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space

    def run(self) -> ConvertResult:
        request = self.request
        source = request.source.absolute()
        judged = judge_headers(source, request.policy)
        if judged is None:
            return ConvertJob(request, self.qemu, self.on_progress, self.cancel, self.free_space).run()
        if request.expected_source not in (None, judged[0].identity):  # the verified download
            raise SourceChanged(f"{source} is no longer the file that was verified; nothing was converted.")
        folder = request.destination.absolute().parent
        try:
            with inflated(source, judged, folder, request.policy, self.free_space, self.on_progress,
                          self.cancel) as image:  # fmt: skip
                inner = replace(request, source=Path(image.path), expected_source=None)
                result = ConvertJob(inner, self.qemu, self.on_progress, self.cancel, self.free_space).run()
        except Cancelled:
            raise Cancelled("The conversion was cancelled; its partial output was removed.") from None
        return replace(result, checks=(image.check, *result.checks))
