"""Converting a compressed image: judged by its headers first, inflated (bounded, sparse)
into a private folder beside the destination, then converted by an ordinary ConvertJob,
which runs the whole gate, qemu-img's second opinion included, on the inflated file."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ..convert.job import ConvertJob, ConvertRequest, ConvertResult, file_identity
from ..errors import Cancelled, SourceChanged, UnsafeImage
from ..placement import PrivateFolder, free_space
from ..progress import ProgressCallback
from ..qemu.qemu_img import QemuImg
from .inflate import inflate_file, inflate_limit
from .probe import probe_packed


class PackedConvertJob:
    """One conversion of a compressed source, run once with `run()`."""

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
        source = self.request.source.absolute()
        probed = probe_packed(source)
        if probed is None:
            return ConvertJob(self.request, self.qemu, self.on_progress, self.cancel, self.free_space).run()
        facts, inner = probed
        # Headers further in than the probe read (facts.settled) are judged on the inflated file.
        problems = list(inner.violations)
        problems += self.request.policy.violations(inner.format, (inner.subformat,), inner.virtual_size)
        if problems:
            raise UnsafeImage.refused(str(source), problems)
        folder = self.request.destination.absolute().parent
        private = PrivateFolder(folder)
        try:
            before = file_identity(source)
            limit = inflate_limit(facts, inner, self.request.policy, self.free_space(folder))
            name = source.name + ".inflated"
            size = inflate_file(source, facts.packing, private.fd, name, limit, self.on_progress,
                                self.cancel, facts.uncompressed_size)  # fmt: skip
            if file_identity(source) != before:
                raise SourceChanged(f"{source} changed while it was decompressed; convert it again.")
            inflated = replace(self.request, source=Path(private.path(name)))
            result = ConvertJob(inflated, self.qemu, self.on_progress, self.cancel, self.free_space).run()
        except Cancelled:
            raise Cancelled("The conversion was cancelled; its partial output was removed.") from None
        finally:
            private.remove()
        check = f"{facts.packing.value} stream: {size:,} bytes decompressed, within {limit[1]}"
        return replace(result, checks=(check, *result.checks))
