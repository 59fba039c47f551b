"""Downloading an image to `DEST.part`: verified, resumable, and inspected while it streams.

One pass writes each chunk, feeds every hash the image must match, and feeds our
format inspector (verification.py), so that an unsafe image is refused after its headers
arrive. A small sidecar (`DEST.part.meta`) says what the `.part` belongs to, so that
only the same download ever resumes it.

The folder may be one that other users can write. Both files are created with
O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600) and then used only through their descriptors;
a resume adopts them only if they are regular files of ours with no other name
(partfiles.py). Anything else at those names is left untouched and the download stops
with one sentence: whoever can plant our partial name could as well plant the
destination, so a fresh name would buy nothing, and one fixed name keeps resuming
simple. A name is removed only while it still names the file we created or adopted.
The body is read under a watchdog that serves both Cancel and the stall timeout
(transport.py); the verified `.part` is placed by placing.py.
"""

from __future__ import annotations

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

from ..errors import (
    Cancelled,
    ChecksumMismatch,
    DiskscopeError,
    DownloadFailed,
    DownloadStalled,
    NetworkError,
    NotEnoughSpace,
)
from ..packed.sink import InflatingSink
from ..placement import free_space
from ..progress import Progress, ProgressCallback, ProgressMeter
from ..sizes import human_size
from .http import HttpOptions, get, raise_for_status, redact, session_for
from .partfiles import OwnFile, adopt, check_folder, read_json, write_all, write_error
from .placing import changed
from .transport import CHUNK, STALL_BYTES, Resumable, Watchdog, reason, wake
from .verification import DownloadResult, Expectation, StreamCheck
from .writing import PartWriter

logger = logging.getLogger(__name__)
NotEnoughSpaceForDownload = NotEnoughSpace  # its old name, one error for both now


@dataclass(frozen=True)
class DownloadRequest:
    url: str
    destination: Path  # the final name; bytes go to DESTINATION.part
    options: HttpOptions = field(default_factory=HttpOptions)
    expect: Expectation = field(default_factory=Expectation)
    allow_unverified: bool = False  # no checksum at all: the user must say so
    retries: int = 4
    backoff: float = 0.5  # seconds, doubled at each retry
    stall_timeout: float = 120.0  # seconds in which at least STALL_BYTES must arrive

    @property
    def part(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part")

    @property
    def sidecar(self) -> Path:
        return self.destination.with_name(self.destination.name + ".part.meta")


class Download:
    """One download, run once with `run()`; progress and cancel like `ConvertJob`.

    Setting `cancel` stops even a read blocked on a silent server: a watchdog shuts the
    socket down, which wakes the read (closing it from another thread would not).
    """

    def __init__(
        self,
        request: DownloadRequest,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        free_space: Callable[[Path], int] = free_space,
        session: requests.Session | None = None,
        sink: InflatingSink | None = None,
    ) -> None:
        self.request = request
        self.sink = sink  # fed every byte that is hashed: see core/packed/sink.py
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space
        self.session = session or session_for(request.options)
        self.keep_part = False  # True when a failure leaves the .part for a later resume
        self._response: requests.Response | None = None
        self._state: StreamCheck | None = None
        self._part: OwnFile | None = None
        self._sidecar: OwnFile | None = None

    def abort(self) -> None:
        """Cancel from another thread, without waiting for a blocked read to time out."""
        self.cancel.set()
        if self._response is not None:
            wake(self._response)

    def run(self) -> DownloadResult:
        req = self.request
        started = time.monotonic()
        check_folder(req.destination)
        expect = req.expect
        if not expect.checksums and not req.allow_unverified:
            raise DiskscopeError(
                "Nothing says what this image should hash to; give a checksum, "
                "or accept an unverified download explicitly."
            )
        if expect.size is not None and expect.size > self.free_space(req.destination.parent):
            raise NotEnoughSpace(
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
            for own in (self._part, self._sidecar):
                if own is not None:
                    own.close()

    def discard(self) -> None:
        """Remove the partial download and its sidecar, if they are still the files we
        created or adopted; anything else now at those names is not ours to remove."""
        for own in (self._part, self._sidecar):
            if own is not None:
                own.remove()

    # -- state ----------------------------------------------------------------------------------

    def _identity(self) -> dict[str, object]:
        """What the .part belongs to; never the token."""
        expect = self.request.expect
        return {
            "url": redact(self.request.url),
            "size": expect.size,
            "checksums": sorted(str(c) for c in expect.checksums),
        }

    def _start_state(self) -> StreamCheck:
        req = self.request
        state = StreamCheck(req.expect, self.sink)
        self._state = state
        part = adopt(req.part, os.O_RDWR)
        try:
            sidecar = adopt(req.sidecar, os.O_RDONLY)
        except BaseException:
            if part is not None:
                part.close()
            raise
        if part is not None and sidecar is not None and read_json(sidecar.fd) == self._identity():
            self._part, self._sidecar = part, sidecar
            self._rehash(state)  # the kept bytes count only if they hash and inspect again
            logger.info("resuming %s from byte %d", req.part, state.offset)
            return state
        for stale in (part, sidecar):  # ours, but another download's (or half made): replaced
            if stale is not None:
                stale.remove()
                stale.close()
        self._part = OwnFile.create(req.part)
        self._sidecar = OwnFile.create(req.sidecar)
        try:
            write_all(self._sidecar.fd, json.dumps(self._identity()).encode(), 0)
        except OSError as exc:
            raise write_error(req.sidecar, exc) from None
        return state

    def _rehash(self, state: StreamCheck) -> None:
        fd = self._part_fd()
        while block := os.pread(fd, CHUNK, state.offset):
            if self.cancel.is_set():
                raise self._cancelled()
            state.absorb(block)
            state.check_early()

    def _part_fd(self) -> int:
        if self._part is None:
            raise RuntimeError("the download has no partial file yet")
        return self._part.fd

    def _kept(self) -> str:
        """Keep a .part that has data for a later resume, and say so; else say nothing is kept."""
        size = self._part.size() if self._part is not None else 0
        self.keep_part = size > 0
        if self.keep_part:
            return f"kept {self.request.part} ({size:,} bytes) to resume; run the same command again"
        return "nothing was kept"

    def _cancelled(self) -> Cancelled:
        return Cancelled(f"The download was cancelled; {self._kept()}.")

    # -- transfer -------------------------------------------------------------------------------

    def _transfer(self, state: StreamCheck) -> None:
        meter = ProgressMeter("downloading", self.request.expect.size, self.on_progress)
        meter.update(state.offset, force=True)
        attempt = 0
        while True:
            try:
                self._attempt(state, meter)
                return
            except (Resumable, NetworkError, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout, urllib3.exceptions.HTTPError) as exc:  # fmt: skip
                if self.cancel.is_set():
                    raise self._cancelled() from None
                attempt += 1
                if attempt > self.request.retries:
                    raise DownloadFailed(
                        f"The download from {redact(self.request.url)} failed after "
                        f"{attempt} attempt{'s' if attempt > 1 else ''} ({reason(exc)}); "
                        f"{self._kept()}."
                    ) from None
                delay = self.request.backoff * 2 ** (attempt - 1)
                logger.info("attempt %d failed (%s); retrying in %.1f s", attempt, exc, delay)
                if self.on_progress:  # not silent: the window shows "retrying 2 of 5"
                    tries = self.request.retries + 1
                    self.on_progress(Progress(f"retrying {attempt + 1} of {tries}", state.offset,
                                              meter.total, None, None))  # fmt: skip
                if self.cancel.wait(delay):
                    raise self._cancelled() from None

    def _attempt(self, state: StreamCheck, meter: ProgressMeter) -> None:
        headers = {"Range": f"bytes={state.offset}-"} if state.offset else {}
        response = get(self.session, self.request.url, self.request.options, headers, stream=True)
        self._response = response
        with response:
            self._accept(response, state)
            total = self._total(response, state)
            meter.total = total
            try:
                self._receive(response, state, meter)
            except OSError as exc:  # the file's: the socket's became Resumable
                raise write_error(self.request.part, exc) from None
            if total is not None and state.offset < total:
                raise Resumable("the connection closed early")
        meter.update(state.offset, force=True)

    def _receive(self, response: requests.Response, state: StreamCheck, meter: ProgressMeter) -> None:
        fd = self._part_fd()
        os.ftruncate(fd, state.offset)
        with Watchdog(response, self.cancel, self.request.stall_timeout) as watchdog, PartWriter(fd) as out:
            while True:
                try:
                    block = response.raw.read1(CHUNK, decode_content=False)
                except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                        OSError) as exc:  # fmt: skip
                    self._check_stopped(watchdog)
                    raise Resumable(reason(exc)) from None
                self._check_stopped(watchdog)
                if not block:
                    break
                out.write(block, state.offset)
                state.absorb(block)
                watchdog.received(len(block))
                state.check_early()
                meter.update(state.offset)
            out.finish(state.offset)

    def _check_stopped(self, watchdog: Watchdog) -> None:
        if self.cancel.is_set():
            raise self._cancelled()
        if watchdog.stalled:
            raise DownloadStalled(
                f"The download from {redact(self.request.url)} stalled: less than "
                f"{STALL_BYTES // 1024} KiB arrived in {self.request.stall_timeout:g} seconds; "
                f"{self._kept()}."
            )

    def _accept(self, response: requests.Response, state: StreamCheck) -> None:
        code = response.status_code
        if code == 204:
            raise DownloadFailed("The image has no data on the server (204 No Content).")
        if code == 416 and state.offset:
            return  # nothing after what we have: the size and checksums will tell if it is whole
        if code >= 500:
            raise Resumable(f"server error {code}")
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

    def _total(self, response: requests.Response, state: StreamCheck) -> int | None:
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
            raise NotEnoughSpace(
                f"The image is {human_size(total)} but there is not that much free space in "
                f"{self.request.destination.parent}."
            )
        return total if total is not None else expected

    # -- the end --------------------------------------------------------------------------------

    def _finish(self, state: StreamCheck, resumed_from: int, started: float) -> DownloadResult:
        req = self.request
        digests, verified, inspection = state.verify(req.expect)
        fd = self._part_fd()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise write_error(req.part, exc) from None
        if self._part is None or not self._part.still_named():
            raise changed(req.part)
        if self._sidecar is not None:
            self._sidecar.remove()
        st = os.fstat(fd)
        return DownloadResult(
            part=req.part, size=state.offset, digests=digests, verified_by=verified,
            unverified=not verified, inspection=inspection, resumed_from=resumed_from,
            duration=time.monotonic() - started, identity=(st.st_dev, st.st_ino, st.st_ctime_ns),
        )  # fmt: skip
