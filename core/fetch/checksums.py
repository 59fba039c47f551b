"""Expected checksums: what the user or Glance says, and hashing in one pass."""

from __future__ import annotations

import hashlib
import queue
import re
import threading
from dataclasses import dataclass

from ..errors import DiskscopeError

_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256", 128: "sha512"}


@dataclass(frozen=True)
class Checksum:
    algorithm: str
    hexdigest: str
    source: str  # who said so: "you", "Glance checksum", "Content-MD5", ...

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def parse_checksum(text: str, source: str = "you") -> Checksum:
    """`sha256:HEX`, any `ALGO:HEX` hashlib knows, or a bare hex digest recognised by length."""
    text = text.strip()
    algorithm, sep, digest = text.partition(":")
    if not sep:
        algorithm, digest = _BY_LENGTH.get(len(text), ""), text
        if not algorithm:
            raise DiskscopeError(f"{text!r} is not a checksum; write it as ALGORITHM:HEX.")
    algorithm = algorithm.lower().replace("-", "")
    digest = digest.lower()
    if algorithm not in hashlib.algorithms_available:
        raise DiskscopeError(f"{algorithm!r} is not a hash algorithm this system has.")
    if not re.fullmatch(r"[0-9a-f]+", digest) or len(digest) != hashlib.new(algorithm).digest_size * 2:
        raise DiskscopeError(f"{digest!r} is not a {algorithm} digest.")
    return Checksum(algorithm, digest, source)


class MultiHasher:
    """Every algorithm that an expected checksum needs, fed once per chunk."""

    def __init__(self, algorithms: set[str]) -> None:
        self._hashers = {a: hashlib.new(a) for a in sorted(algorithms)}
        self._fed = False

    def covers(self, algorithm: str) -> bool:
        return algorithm in self._hashers

    def add(self, algorithm: str) -> bool:
        """Hash one more algorithm; possible only before the first byte. Whether it was added."""
        if self._fed:
            return False
        self._hashers.setdefault(algorithm, hashlib.new(algorithm))
        return True

    def seal(self) -> None:
        """No algorithm may be added from now on (the first byte is on its way)."""
        self._fed = True

    def update(self, data: bytes | memoryview) -> None:
        self._fed = True
        for hasher in self._hashers.values():
            hasher.update(data)

    def hexdigests(self) -> dict[str, str]:
        return {a: h.hexdigest() for a, h in self._hashers.items()}


class BackgroundHasher:
    """A MultiHasher fed from a second thread. hashlib releases the GIL on large buffers,
    so hashing overlaps the network and the disk instead of adding to them. At most
    `depth` chunks wait in between, so memory stays bounded."""

    def __init__(self, algorithms: set[str], depth: int = 8) -> None:
        self._hasher = MultiHasher(algorithms)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._thread = threading.Thread(target=self._run, name="diskscope-hash", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while (block := self._queue.get()) is not None:
            self._hasher.update(block)

    def covers(self, algorithm: str) -> bool:
        return self._hasher.covers(algorithm)

    def add(self, algorithm: str) -> bool:
        return self._hasher.add(algorithm)

    def update(self, data: bytes) -> None:
        self._hasher.seal()
        self._queue.put(data)

    def close(self) -> None:
        """Stop the thread (after it has hashed everything queued); idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join()

    def hexdigests(self) -> dict[str, str]:
        self.close()
        return self._hasher.hexdigests()
