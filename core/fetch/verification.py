"""What a download must be, and the check that it is: every expected hash and our format
inspector are fed each block as it arrives; an unsafe image is refused once its headers
are in, a wrong size or digest at the end."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ChecksumMismatch, UnsafeImage
from ..formats import ImageFormat
from ..inspect.inspector import InspectionResult
from ..packed.sink import InflatingSink
from ..packed.stream_inspect import PackedStreamInspector
from .checksums import BackgroundHasher, Checksum


@dataclass(frozen=True)
class Expectation:
    """What the downloaded bytes must be."""

    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    declared_format: ImageFormat | None = None
    # An OVA: a tar that is no disk image itself, judged whole once it has arrived
    # (core/appliance/), so the stream's disk inspection does not refuse it.
    appliance: bool = False


@dataclass(frozen=True)
class DownloadResult:
    part: Path
    size: int
    digests: dict[str, str]
    verified_by: tuple[str, ...]  # e.g. "sha512 (Glance os_hash_value)"
    unverified: bool
    inspection: InspectionResult
    resumed_from: int
    duration: float
    identity: tuple[int, int, int]  # the .part's st_dev, st_ino, st_ctime_ns once verified


class StreamCheck:
    """The hashes and the inspector one download's bytes pass through, and how many came."""

    def __init__(self, expect: Expectation, sink: InflatingSink | None = None) -> None:
        # Only what must be checked; an unverified download still gets a sha256 to record.
        self._algorithms = {c.algorithm for c in expect.checksums} or {"sha256"}
        self.hasher = BackgroundHasher(self._algorithms)
        # A compressed image is judged by the image inside (core/packed/stream_inspect.py).
        self.inspector = PackedStreamInspector(expect.declared_format)
        self.offset = 0
        self.appliance = expect.appliance  # nothing to judge early: the whole tar is, at the end
        self.checked = self.appliance
        self.content_md5: str | None = None
        self.sink = sink  # decompresses a compressed download in the same pass

    def absorb(self, block: bytes) -> None:
        self.hasher.update(block)
        self.inspector.feed(block)
        if self.sink is not None:
            self.sink.feed(block)
        self.offset += len(block)

    def reset(self, declared: ImageFormat | None) -> None:
        algorithms = self._algorithms | {a for a in ("md5",) if self.hasher.covers(a)}
        self.hasher.close()
        self.hasher = BackgroundHasher(algorithms)
        self.inspector = PackedStreamInspector(declared)
        if self.sink is not None:
            self.sink.restart()
        self.offset = 0
        self.checked = self.appliance

    def check_early(self) -> None:
        """Refuse an unsafe image as soon as the inspector has seen enough of it."""
        if self.checked:
            return
        early = self.inspector.early_result()
        if early is None:
            return
        self.checked = True
        if not early.safe:
            raise UnsafeImage(f"The download was stopped after its headers: "
                              f"{early.violations[0].message}", early.violations)  # fmt: skip

    def verify(self, expect: Expectation) -> tuple[dict[str, str], tuple[str, ...], InspectionResult]:
        """The digests, what verified the bytes, and the whole inspection, once all arrived;
        ChecksumMismatch or UnsafeImage if they are not what was expected."""
        expected = expect.size
        if expected is not None and self.offset != expected:
            raise ChecksumMismatch(f"The download has {self.offset:,} bytes; the image should "
                                   f"have {expected:,}.")  # fmt: skip
        digests = self.hasher.hexdigests()
        verified = []
        for checksum in expect.checksums:
            actual = digests[checksum.algorithm]
            if actual != checksum.hexdigest:
                raise ChecksumMismatch(
                    f"The {checksum.algorithm} of the download is {actual}, but "
                    f"{_claimed_by(checksum.source)} {checksum.hexdigest}."
                )
            verified.append(f"{checksum.algorithm} ({checksum.source})")
        if self.content_md5:
            if digests["md5"] != self.content_md5:
                raise ChecksumMismatch(
                    f"The md5 of the download is {digests['md5']}, but the server's Content-MD5 "
                    f"says {self.content_md5}."
                )
            verified.append("md5 (the server's Content-MD5)")
        inspection = self.inspector.finish()
        if not inspection.safe and not expect.appliance:
            raise UnsafeImage.refused("The downloaded image", inspection.violations)
        return digests, tuple(verified), inspection


def _claimed_by(source: str) -> str:
    """Who expected which digest, as a sentence reads it: "you gave", "Glance checksum says"."""
    return "you gave" if source == "you" else f"{source} says"
