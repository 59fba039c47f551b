"""A compressed image inflated into a private folder beside where its result goes, after
its headers passed the gate, bounded by what it declares; removed again on the way out."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnsafeImage
from ..inspect.inspector import InspectionResult
from ..placement import PrivateFolder
from ..policy import InspectionPolicy
from ..progress import ProgressCallback
from .inflate import inflate_file, inflate_limit
from .probe import PackedFacts, probe_packed


@dataclass(frozen=True)
class Inflated:
    folder: PrivateFolder
    name: str  # the inflated file, in `folder`
    facts: PackedFacts
    inner: InspectionResult  # the verdict on its headers, before it was inflated
    check: str  # what was done, for the list of checks a result shows

    @property
    def path(self) -> str:
        return self.folder.path(self.name)


def judge_headers(source: Path, policy: InspectionPolicy) -> tuple[PackedFacts, InspectionResult] | None:
    """The compression and the image inside; UnsafeImage when its headers (or the user's
    policy) refuse it. Headers further in than the probe read are judged on the inflated
    file, by the whole gate, later."""
    probed = probe_packed(source)
    if probed is None:
        return None
    facts, inner = probed
    problems = [*inner.violations, *policy.violations(inner.format, (inner.subformat,), inner.virtual_size)]
    if problems:
        raise UnsafeImage.refused(str(source), problems)
    return facts, inner


@contextmanager
def inflated(
    source: Path,
    judged: tuple[PackedFacts, InspectionResult],
    folder: Path,
    policy: InspectionPolicy,
    free_space: Callable[[Path], int],
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[Inflated]:
    facts, inner = judged
    private = PrivateFolder(folder)
    try:
        limit = inflate_limit(facts, inner, policy, free_space(folder))
        name = source.name + ".inflated"
        # The very file whose headers were judged, unchanged until its last byte was read.
        size = inflate_file(source, facts.packing, private.fd, name, limit, on_progress, cancel,
                            facts.uncompressed_size, facts.identity)  # fmt: skip
        check = f"{facts.packing.value} stream: {size:,} bytes decompressed, within {limit[1]}"
        yield Inflated(private, name, facts, inner, check)
    finally:
        private.remove()
