"""Downloading an image to `DEST.part`: verified, resumable, and inspected while it streams.

One pass writes each chunk, feeds every hash the image must match, and feeds our
format inspector, so that an unsafe image is refused after its headers arrive.
A small sidecar (`DEST.part.meta`) says what the `.part` belongs to, so that
only the same download ever resumes it.

The folder may be one that other users can write. Both files are created with
O_CREAT|O_EXCL|O_NOFOLLOW (mode 0600) and then used only through their descriptors;
a resume adopts them only if they are regular files of ours with no other name.
Anything else at those names is left untouched and the download stops with one
sentence: whoever can plant our partial name could as well plant the destination,
so a fresh name would buy nothing, and one fixed name keeps resuming simple. A name
is removed only while it still names the file we created or adopted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import pwd
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import urllib3

from ..errors import (
    Cancelled,
    DestinationExists,
    DestinationNotWritable,
    DiskscopeError,
    DownloadFailed,
    DownloadStalled,
    FileInTheWay,
    NetworkError,
    NetworkProblem,
    NotEnoughSpace,
    PartialFileChanged,
    UnsafeImage,
)
from ..errors import (
    ChecksumMismatch as ChecksumMismatch,  # imported from here too
)
from ..formats import ImageFormat
from ..inspect.inspector import InspectionResult, StreamInspector
from ..placement import check_destination, free_space
from ..progress import Progress, ProgressCallback, ProgressMeter
from ..sizes import human_size
from .checksums import BackgroundHasher, Checksum
from .http import (
    HttpOptions,
    get,
    network_problem,
    raise_for_status,
    redact,
    session_for,
)

logger = logging.getLogger(__name__)
NotEnoughSpaceForDownload = NotEnoughSpace  # its old name, one error for both now
CHUNK = 1 << 20
STALL_BYTES = 64 * 1024  # a download that gets less than this within its stall timeout has stalled
_SIDECAR_MAX = 64 * 1024
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a planted FIFO cannot hang us


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
    stall_timeout: float = 120.0  # seconds in which at least STALL_BYTES must arrive

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
    identity: tuple[int, int, int]  # the .part's st_dev, st_ino, st_ctime_ns once verified


class _Resumable(Exception):
    """The connection broke mid-body: try again from where the file ends."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    ) -> None:
        self.request = request
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space
        self.session = session or session_for(request.options)
        self.keep_part = False  # True when a failure leaves the .part for a later resume
        self._response: requests.Response | None = None
        self._state: _State | None = None
        self._part: _OwnFile | None = None
        self._sidecar: _OwnFile | None = None

    def abort(self) -> None:
        """Cancel from another thread, without waiting for a blocked read to time out."""
        self.cancel.set()
        if self._response is not None:
            _wake(self._response)

    def run(self) -> DownloadResult:
        req = self.request
        started = time.monotonic()
        _check_folder(req.destination)
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

    def _start_state(self) -> _State:
        req = self.request
        # Only what must be checked; an unverified download still gets a sha256 to record.
        algorithms = {c.algorithm for c in req.expect.checksums} or {"sha256"}
        state = _State(BackgroundHasher(algorithms), StreamInspector(req.expect.declared_format), algorithms)
        self._state = state
        part = _adopt(req.part, os.O_RDWR)
        try:
            sidecar = _adopt(req.sidecar, os.O_RDONLY)
        except BaseException:
            if part is not None:
                part.close()
            raise
        if part is not None and sidecar is not None and _read_json(sidecar.fd) == self._identity():
            self._part, self._sidecar = part, sidecar
            self._rehash(state)  # the kept bytes count only if they hash and inspect again
            logger.info("resuming %s from byte %d", req.part, state.offset)
            return state
        for stale in (part, sidecar):  # ours, but another download's (or half made): replaced
            if stale is not None:
                stale.remove()
                stale.close()
        self._part = _OwnFile.create(req.part)
        self._sidecar = _OwnFile.create(req.sidecar)
        try:
            _write_all(self._sidecar.fd, json.dumps(self._identity()).encode(), 0)
        except OSError as exc:
            raise _write_error(req.sidecar, exc) from None
        return state

    def _rehash(self, state: _State) -> None:
        fd = self._part_fd()
        while block := os.pread(fd, CHUNK, state.offset):
            if self.cancel.is_set():
                raise self._cancelled()
            state.absorb(block)
            self._check_early(state)

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

    def _transfer(self, state: _State) -> None:
        meter = ProgressMeter("downloading", self.request.expect.size, self.on_progress)
        meter.update(state.offset, force=True)
        attempt = 0
        while True:
            try:
                self._attempt(state, meter)
                return
            except (_Resumable, NetworkError, requests.exceptions.ConnectionError,
                    requests.exceptions.Timeout, urllib3.exceptions.HTTPError) as exc:  # fmt: skip
                if self.cancel.is_set():
                    raise self._cancelled() from None
                attempt += 1
                if attempt > self.request.retries:
                    raise DownloadFailed(
                        f"The download from {redact(self.request.url)} failed after "
                        f"{attempt} attempt{'s' if attempt > 1 else ''} ({_reason(exc)}); "
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
        fd = self._part_fd()
        os.ftruncate(fd, state.offset)
        with _Watchdog(response, self.cancel, self.request.stall_timeout) as watchdog:
            while True:
                try:
                    block = response.raw.read1(CHUNK, decode_content=False)
                except (urllib3.exceptions.ProtocolError, urllib3.exceptions.ReadTimeoutError,
                        OSError) as exc:  # fmt: skip
                    self._check_stopped(watchdog)
                    raise _Resumable(_reason(exc)) from None
                self._check_stopped(watchdog)
                if not block:
                    break
                _write_all(fd, block, state.offset)
                state.absorb(block)
                watchdog.received(len(block))
                self._check_early(state)
                meter.update(state.offset)

    def _check_stopped(self, watchdog: _Watchdog) -> None:
        if self.cancel.is_set():
            raise self._cancelled()
        if watchdog.stalled:
            raise DownloadStalled(
                f"The download from {redact(self.request.url)} stalled: less than "
                f"{STALL_BYTES // 1024} KiB arrived in {self.request.stall_timeout:g} seconds; "
                f"{self._kept()}."
            )

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
            raise NotEnoughSpace(
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
                    f"The {checksum.algorithm} of the download is {actual}, but "
                    f"{_claimed_by(checksum.source)} {checksum.hexdigest}."
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
            raise UnsafeImage.refused("The downloaded image", inspection.violations)
        fd = self._part_fd()
        try:
            os.fsync(fd)
        except OSError as exc:
            raise _write_error(req.part, exc) from None
        if self._part is None or not self._part.still_named():
            raise _changed(req.part)
        if self._sidecar is not None:
            self._sidecar.remove()
        st = os.fstat(fd)
        return DownloadResult(
            part=req.part, size=state.offset, digests=digests, verified_by=tuple(verified),
            unverified=not verified, inspection=inspection, resumed_from=resumed_from,
            duration=time.monotonic() - started, identity=(st.st_dev, st.st_ino, st.st_ctime_ns),
        )  # fmt: skip


# -- after the download: the verified .part, used only while it is still the file we wrote ---


def _claimed_by(source: str) -> str:
    """Who expected which digest, as a sentence reads it: "you gave", "Glance checksum says"."""
    return "you gave" if source == "you" else f"{source} says"


def check_download(result: DownloadResult) -> None:
    """Raise PartialFileChanged unless `result.part` is still the file the download verified."""
    os.close(_open_unchanged(result))


def place_download(result: DownloadResult, destination: Path, overwrite: bool) -> None:
    """Give the verified `.part` its final name: only the file we wrote, and never onto or
    through a link (a rename replaces a name; it does not write through it)."""
    fd = _open_unchanged(result)
    try:
        check_destination(destination, overwrite)
        try:
            if overwrite:
                os.rename(result.part, destination)
            else:
                _rename_noreplace(result.part, destination)
        except OSError as exc:
            raise DestinationNotWritable(f"Could not move {result.part} to {destination}: "
                                         f"{exc.strerror}.") from None  # fmt: skip
        placed = os.lstat(destination)
        held = os.fstat(fd)
        if (placed.st_dev, placed.st_ino) != (held.st_dev, held.st_ino):
            os.unlink(destination)  # the name we just made, for what was swapped in at .part
            raise _changed(result.part)
        folder = os.open(destination.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        os.close(fd)


def remove_download(result: DownloadResult) -> None:
    """Remove the verified `.part`, if that name is still the file the download wrote."""
    try:
        st = os.lstat(result.part)
    except FileNotFoundError:
        return
    if (st.st_dev, st.st_ino, st.st_ctime_ns) == result.identity:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(result.part)
    else:
        logger.warning("%s is no longer the download; left it alone", result.part)


def _rename_noreplace(source: Path, destination: Path) -> None:
    """Rename without replacing: a hard link (which fails if the name exists), then unlink."""
    try:
        os.link(source, destination, follow_symlinks=False)
    except FileExistsError:
        raise _appeared(destination) from None
    except OSError:  # a filesystem without hard links: check, then rename
        if os.path.lexists(destination):
            raise DestinationExists(
                f"{destination} appeared while the job ran; it was left untouched."
            ) from None
        os.rename(source, destination)
    else:
        os.unlink(source)


def _appeared(destination: Path) -> DestinationExists:
    return DestinationExists(f"{destination} appeared while the job ran; it was left untouched.")


def _open_unchanged(result: DownloadResult) -> int:
    """The verified `.part`, opened without following a link, if it is the file we wrote."""
    try:
        fd = os.open(result.part, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        raise _changed(result.part) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino, st.st_ctime_ns) != result.identity:
        os.close(fd)
        raise _changed(result.part)
    return fd


def _changed(part: Path) -> PartialFileChanged:
    return PartialFileChanged(f"{part} was replaced or changed by someone else after it was "
                              "verified, so it was not used.")  # fmt: skip


# -- the partial files ------------------------------------------------------------------------


class _OwnFile:
    """A file we created (O_EXCL) or adopted after `_adopt`'s checks, used through `fd`."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd
        st = os.fstat(fd)
        self.inode = (st.st_dev, st.st_ino)

    @classmethod
    def create(cls, path: Path) -> _OwnFile:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
        except FileExistsError:
            raise _in_the_way(path, "it appeared just as the download started") from None
        except OSError as exc:
            raise _cannot_create(path, exc) from None
        return cls(path, fd)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def still_named(self) -> bool:
        try:
            st = os.lstat(self.path)
        except OSError:
            return False
        return (st.st_dev, st.st_ino) == self.inode

    def remove(self) -> None:
        """Unlink the name while it still names our file. In a sticky folder nobody else can
        rename our file between the check and the unlink; in a folder anyone may write
        without the sticky bit, anyone can unlink any name anyway."""
        if self.still_named():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _adopt(path: Path, flags: int) -> _OwnFile | None:
    """`path` opened, if it is a regular file of ours with no other name; None if absent.
    Anything else raises FileInTheWay and is not opened for writing, nor touched."""
    try:
        _check_ours(path, os.lstat(path))  # a FIFO or device is refused before any open
        fd = os.open(path, flags | _NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _in_the_way(path, "it is a symbolic link") from None
        raise _cannot_create(path, exc) from None
    try:
        _check_ours(path, os.fstat(fd))  # what we opened, whatever the name meant a moment ago
    except BaseException:
        os.close(fd)
        raise
    return _OwnFile(path, fd)


def _check_ours(path: Path, st: os.stat_result) -> None:
    if stat.S_ISLNK(st.st_mode):
        raise _in_the_way(path, "it is a symbolic link")
    if not stat.S_ISREG(st.st_mode):
        raise _in_the_way(path, "it is not a regular file")
    if st.st_uid != os.geteuid():
        raise _in_the_way(path, f"it belongs to another user, {_user_name(st.st_uid)}")
    if st.st_nlink != 1:
        raise _in_the_way(path, "it has another name, a hard link elsewhere")


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _in_the_way(path: Path, why: str) -> FileInTheWay:
    return FileInTheWay(f"{path} is in the way of the download ({why}), so it was left untouched; "
                        "remove it or choose another destination.")  # fmt: skip


def _read_json(fd: int) -> object:
    data = os.pread(fd, _SIDECAR_MAX + 1, 0)
    if len(data) > _SIDECAR_MAX:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def _write_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _check_folder(destination: Path) -> None:
    """The folder exists, can be entered, and takes our longest name (the sidecar's)."""
    folder = destination.parent
    try:
        st = os.stat(folder)
    except (FileNotFoundError, NotADirectoryError):
        raise DiskscopeError(f"The destination folder {folder} does not exist.") from None
    except PermissionError:
        raise DestinationNotWritable(f"You may not enter the destination folder {folder}.") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DiskscopeError(f"The destination folder {folder} is not a folder.")
    longest = len(os.fsencode(destination.name + ".part.meta"))
    try:
        limit = os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    if longest > limit:
        raise DestinationNotWritable(
            f"The file name {destination.name} is too long: with the .part.meta suffix it has "
            f"{longest} bytes, and {folder} allows {limit}."
        )


def _cannot_create(path: Path, exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return DestinationNotWritable(f"You may not create files in {path.parent}; choose a folder "
                                      "you can write to.")  # fmt: skip
    if exc.errno == errno.EROFS:
        return DestinationNotWritable(f"{path.parent} is on a read-only filesystem.")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace(f"There is no room for a new file in {path.parent}.")
    return DestinationNotWritable(f"Could not create {path}: {exc.strerror}.")


class _Watchdog:
    """While a body streams: shuts the socket down when `cancel` is set, or when less than
    STALL_BYTES arrived within `timeout` seconds (`stalled` then says so). Shutting a
    socket down wakes a read blocked on it; closing it from another thread would not."""

    def __init__(self, response: requests.Response, cancel: threading.Event, timeout: float) -> None:
        self.response, self.cancel, self.timeout = response, cancel, timeout
        self.stalled = False
        self._since_mark = 0
        self._deadline = time.monotonic() + timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="diskscope-download-watchdog", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._done.set()
        self._thread.join()

    def received(self, count: int) -> None:
        self._since_mark += count
        if self._since_mark >= STALL_BYTES:
            self._since_mark = 0
            self._deadline = time.monotonic() + self.timeout

    def _watch(self) -> None:
        while not self._done.is_set():
            left = self._deadline - time.monotonic()
            if left <= 0:
                self.stalled = True
                break
            if self.cancel.wait(min(left, 0.2)):
                break
        else:
            return
        _wake(self.response)


def _wake(response: requests.Response) -> None:
    """Wake a read blocked on `response`: shut its socket down for reading."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # already closed or released
        response.raw.shutdown()


def _write_error(path: Path, exc: OSError) -> DiskscopeError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return NotEnoughSpace("The destination filesystem filled up during the download.")
    return DestinationNotWritable(f"Could not write {path}: {exc.strerror}.")


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
    """Why an attempt failed, in a few words: from the exception's type where it is known."""
    if isinstance(exc, _Resumable):
        return exc.reason
    problem = exc.problem if isinstance(exc, NetworkError) else network_problem(exc)
    if problem != NetworkProblem.OTHER:
        return problem.value
    return str(exc).split(":")[-1].strip().rstrip(".") or problem.value
