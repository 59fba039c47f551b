"""Downloading an image to `DEST.part`: verified, resumable, and inspected while it streams.

One pass writes each chunk, feeds every hash the image must match, and feeds our
format inspector, so that an unsafe image is refused after its headers arrive.
A small sidecar (`DEST.part.meta`) says what the `.part` belongs to, so that
only the same download ever resumes it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3
from diskscope.core.checksums import BackgroundHasher, Checksum
from diskscope.core.errors import Cancelled, DiskscopeError, UnsafeImage
from diskscope.core.formats import ImageFormat
from diskscope.core.http import (
    DownloadFailed,
    HttpOptions,
    get,
    raise_for_status,
    redact,
    session_for,
)
from diskscope.core.inspect.inspector import InspectionResult, StreamInspector
from diskscope.core.placement import free_space
from diskscope.core.progress import ProgressCallback, ProgressMeter
from diskscope.core.sizes import human_size

logger = logging.getLogger(__name__)
CHUNK = 1 << 20


class ChecksumMismatch(DiskscopeError):
    """The bytes are not the ones the server or the user promised."""


class NotEnoughSpaceForDownload(DiskscopeError):
    """The image is larger than the free space where it goes."""


@dataclass(frozen=True)
class Expectation:
    """What the downloaded bytes must be."""

    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    declared_format: ImageFormat | None = None


@dataclass(frozen=True)
class DownloadRequest:
    url: str
    destination: Path  # the final name; bytes go to DESTINATION.part
    options: HttpOptions = field(default_factory=HttpOptions)
    expect: Expectation = field(default_factory=Expectation)
    allow_unverified: bool = False  # no checksum at all: the user must say so
    retries: int = 4
    backoff: float = 0.5  # seconds, doubled at each retry

    @property
    def part(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part")

    @property
    def sidecar(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part.meta")


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


class _Resumable(Exception):
    """The connection broke mid-body: try again from where the file ends."""


class Download:
    """One download, run once with `run()`; progress and cancel like `ConvertJob`."""

    def __init__(
        self,
        request: DownloadRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        free_space: Callable[[Path], int] = free_space,
        session: requests.Session | None = None,
    ) -> None:
        self.request = request
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space
        self.session = session or session_for(request.options)
        self.keep_part = False  # True when a failure leaves the .part for a later resume
        self._response: requests.Response | None = None
        self._state: _State | None = None

    def abort(self) -> None:
        """Cancel from another thread, without waiting for a blocked read to time out."""
        self.cancel.set()
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):
                response.close()

    def run(self) -> DownloadResult:
        req = self.request
        started = time.monotonic()
        if not req.destination.parent.is_dir():
            raise DiskscopeError(f"The destination folder {req.destination.parent} does not exist.")
        expect = req.expect
        if not expect.checksums and not req.allow_unverified:
            raise DiskscopeError(
                "Nothing says what this image should hash to; give a checksum, "
                "or accept an unverified download explicitly."
            )
        if expect.size is not None and expect.size > self.free_space(req.destination.parent):
            raise NotEnoughSpaceForDownload(
                f"The image is {human_size(expect.size)} ({expect.size:,} bytes) but only "
                f"{human_size(self.free_space(req.destination.parent))} is free in "
                f"{req.destination.parent}."
            )
        ok = False
        try:
            state = self._start_state()
            resumed_from = state.offset
            self._transfer(state)
            result = self._finish(state, resumed_from, started)
            ok = True
            return result
        finally:
            if self._state is not None:
                self._state.hasher.close()
            if not ok and not self.keep_part:
                self.discard()

    def discard(self) -> None:
        """Remove the partial download and its sidecar."""
        for path in (self.request.part, self.request.sidecar):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # -- state ----------------------------------------------------------------------------------

    def _identity(self) -> dict[str, object]:
        """What the .part belongs to; never the token."""
        expect = self.request.expect
        return {
            "url": redact(self.request.url),
            "size": expect.size,
            "checksums": sorted(str(c) for c in expect.checksums),
        }

    def _start_state(self) -> _State:
        req = self.request
        # Only what must be checked; an unverified download still gets a sha256 to record.
        algorithms = {c.algorithm for c in req.expect.checksums} or {"sha256"}
        state = _State(BackgroundHasher(algorithms), StreamInspector(req.expect.declared_format), algorithms)
        self._state = state
        if req.part.exists() and self._sidecar_matches():
            self._rehash(state)  # the kept bytes count only if they hash and inspect again
            logger.info("resuming %s from byte %d", req.part, state.offset)
        else:
            self.discard()
            req.part.touch()
            req.sidecar.write_text(json.dumps(self._identity()))
        return state

    def _sidecar_matches(self) -> bool:
        try:
            return bool(json.loads(self.request.sidecar.read_text()) == self._identity())
        except (OSError, ValueError):
            return False

    def _rehash(self, state: _State) -> None:
        with open(self.request.part, "rb") as f:
            while block := f.read(CHUNK):
                state.absorb(block)
                self._check_early(state)

    # -- transfer -------------------------------------------------------------------------------

    def _transfer(self, state: _State) -> None:
        meter = ProgressMeter("downloading", self.request.expect.size, self.on_progress)
        meter.update(state.offset, force=True)
        attempt = 0
        while True:
            try:
                self._attempt(state, meter)
                return
            except (_Resumable, requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    urllib3.exceptions.HTTPError) as exc:  # fmt: skip
                if self.cancel.is_set():
                    raise Cancelled("The download was cancelled.") from None
                attempt += 1
                if attempt > self.request.retries:
                    self.keep_part = state.offset > 0
                    hint = " Run the same download again to resume it." if self.keep_part else ""
                    raise DownloadFailed(
                        f"The download from {redact(self.request.url)} failed after "
                        f"{attempt} attempt{'s' if attempt > 1 else ''} ({_reason(exc)}).{hint}"
                    ) from None
                delay = self.request.backoff * 2 ** (attempt - 1)
                logger.info("attempt %d failed (%s); retrying in %.1f s", attempt, exc, delay)
                if self.cancel.wait(delay):
                    raise Cancelled("The download was cancelled.") from None

    def _attempt(self, state: _State, meter: ProgressMeter) -> None:
        headers = {"Range": f"bytes={state.offset}-"} if state.offset else {}
        response = get(self.session, self.request.url, self.request.options, headers, stream=True)
        self._response = response
        with response:
            self._accept(response, state)
            total = self._total(response, state)
            meter.total = total
            try:
                self._receive(response, state, meter)
            except OSError as exc:  # the file's: the socket's became _Resumable
                raise _write_error(self.request.part, exc) from None
            if total is not None and state.offset < total:
                raise _Resumable("the connection closed early")
        meter.update(state.offset, force=True)

    def _receive(self, response: requests.Response, state: _State, meter: ProgressMeter) -> None:
        with open(self.request.part, "r+b") as out:
            out.seek(state.offset)
            out.truncate()
            while True:
                if self.cancel.is_set():
                    raise Cancelled("The download was cancelled.")
                try:
                    block = response.raw.read(CHUNK, decode_content=False)
                except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                        OSError) as exc:  # fmt: skip
                    raise _Resumable(str(exc)) from None
                if not block:
                    break
                out.write(block)
                state.absorb(block)
                self._check_early(state)
                meter.update(state.offset)

    def _accept(self, response: requests.Response, state: _State) -> None:
        code = response.status_code
        if code == 204:
            raise DownloadFailed("The image has no data on the server (204 No Content).")
        if code == 416 and state.offset:
            return  # nothing after what we have: the size and checksums will tell if it is whole
        if code >= 500:
            raise _Resumable(f"server error {code}")
        raise_for_status(response, redact(self.request.url))
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("identity", ""):
            raise DownloadFailed(
                f"The server sent the image {encoding}-encoded in transit; Diskscope accepts "
                "only the image's own bytes."
            )
        # Content-MD5 is the whole image's md5 (also on a 206): checked if md5 is, or can
        # still be, hashed.
        content_md5 = response.headers.get("Content-MD5", "").lower()
        well_formed = len(content_md5) == 32 and all(c in "0123456789abcdef" for c in content_md5)
        if well_formed and (state.hasher.covers("md5") or (state.offset == 0 and state.hasher.add("md5"))):
            state.content_md5 = content_md5
        if "text/html" in response.headers.get("Content-Type", "").lower():
            raise DownloadFailed("The server answered with a web page, not a disk image.")
        if state.offset and code == 200:
            logger.info("the server ignored the range request; starting again from zero")
            state.reset(self.request.expect.declared_format)
        elif state.offset and code == 206:
            start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if start != str(state.offset):
                raise DownloadFailed("The server resumed the download at the wrong offset.")

    def _total(self, response: requests.Response, state: _State) -> int | None:
        if response.status_code == 416:
            return state.offset
        length = response.headers.get("Content-Length")
        total = state.offset + int(length) if length and length.isdigit() else None
        expected = self.request.expect.size
        if total is not None and expected is not None and total != expected:
            raise ChecksumMismatch(
                f"The server offers {total:,} bytes but the image should be {expected:,} bytes."
            )
        if total is not None and total > self.free_space(self.request.destination.parent) + state.offset:
            raise NotEnoughSpaceForDownload(
                f"The image is {human_size(total)} but there is not that much free space in "
                f"{self.request.destination.parent}."
            )
        return total if total is not None else expected

    def _check_early(self, state: _State) -> None:
        if state.checked:
            return
        early = state.inspector.early_result()
        if early is None:
            return
        state.checked = True
        if not early.safe:
            raise UnsafeImage(f"The download was stopped after its headers: "
                              f"{early.violations[0].message}", early.violations)  # fmt: skip

    # -- the end --------------------------------------------------------------------------------

    def _finish(self, state: _State, resumed_from: int, started: float) -> DownloadResult:
        req = self.request
        expected = req.expect.size
        if expected is not None and state.offset != expected:
            raise ChecksumMismatch(f"The download has {state.offset:,} bytes; the image should "
                                   f"have {expected:,}.")  # fmt: skip
        digests = state.hasher.hexdigests()
        verified = []
        for checksum in req.expect.checksums:
            actual = digests[checksum.algorithm]
            if actual != checksum.hexdigest:
                raise ChecksumMismatch(
                    f"The {checksum.algorithm} of the download is {actual}, but {checksum.source} "
                    f"says {checksum.hexdigest}."
                )
            verified.append(f"{checksum.algorithm} ({checksum.source})")
        if state.content_md5:
            if digests["md5"] != state.content_md5:
                raise ChecksumMismatch(
                    f"The md5 of the download is {digests['md5']}, but the server's Content-MD5 "
                    f"says {state.content_md5}."
                )
            verified.append("md5 (the server's Content-MD5)")
        inspection = state.inspector.finish()
        if not inspection.safe:
            why = inspection.violations[0].message
            raise UnsafeImage(f"The downloaded image was refused: {why}", inspection.violations)
        with open(req.part, "rb") as f:
            os.fsync(f.fileno())
        with contextlib.suppress(FileNotFoundError):
            req.sidecar.unlink()
        return DownloadResult(
            part=req.part, size=state.offset, digests=digests, verified_by=tuple(verified),
            unverified=not verified, inspection=inspection, resumed_from=resumed_from,
            duration=time.monotonic() - started,
        )  # fmt: skip


def _write_error(path: Path, exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpaceForDownload("The destination filesystem filled up during the download.")
    return DownloadFailed(f"Could not write {path}: {exc.strerror}.")


class _State:
    def __init__(self, hasher: BackgroundHasher, inspector: StreamInspector, algorithms: set[str]) -> None:
        self.hasher, self.inspector = hasher, inspector
        self._algorithms = algorithms
        self.offset = 0
        self.checked = False
        self.content_md5: str | None = None

    def absorb(self, block: bytes) -> None:
        self.hasher.update(block)
        self.inspector.feed(block)
        self.offset += len(block)

    def reset(self, declared: ImageFormat | None) -> None:
        algorithms = self._algorithms | {a for a in ("md5",) if self.hasher.covers(a)}
        self.hasher.close()
        self.hasher = BackgroundHasher(algorithms)
        self.inspector = StreamInspector(declared)
        self.offset = 0
        self.checked = False


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "Read timed out" in text or isinstance(exc, requests.exceptions.Timeout):
        return "the server stopped sending data"
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "the host name is unknown"
    return text.split(":")[-1].strip().rstrip(".") or "connection error"
