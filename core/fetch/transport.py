"""Reading a download's body: chunk size, the stall watchdog that also serves Cancel, and
what counts as a break that the next attempt resumes."""

from __future__ import annotations

import contextlib
import threading
import time

import requests

from ..errors import NetworkError, NetworkProblem
from .http import network_problem

CHUNK = 1 << 20
STALL_BYTES = 64 * 1024  # a download that gets less than this within its stall timeout has stalled


class Resumable(Exception):
    """The connection broke mid-body: try again from where the file ends."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Watchdog:
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

    def __enter__(self) -> Watchdog:
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
        wake(self.response)


def wake(response: requests.Response) -> None:
    """Wake a read blocked on `response`: shut its socket down for reading."""
    with contextlib.suppress(OSError, ValueError, RuntimeError):  # already closed or released
        response.raw.shutdown()


def reason(exc: BaseException) -> str:
    """Why an attempt failed, in a few words: from the exception's type where it is known."""
    if isinstance(exc, Resumable):
        return exc.reason
    problem = exc.problem if isinstance(exc, NetworkError) else network_problem(exc)
    if problem != NetworkProblem.OTHER:
        return problem.value
    return str(exc).split(":")[-1].strip().rstrip(".") or problem.value
