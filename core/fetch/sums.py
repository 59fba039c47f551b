"""Checksum files beside an image (SHA256SUMS, NAME.sha256, ...) and checking an image
against them.

Read formats, as GNU coreutils and BSD write them:
- `HEX  NAME` (text mode) and `HEX *NAME` (binary mode), as `sha256sum` writes;
- `SHA256 (NAME) = HEX`, as `sha256sum --tag` and BSD `sha256` write.
Names may start with `./`. Lines that are none of these (comments) are skipped. The
algorithm comes from the BSD tag, else from the file's name. Fedora's `...-CHECKSUM` files
are BSD-style and clearsigned. Only the signed part of a clearsigned file is read, and with
a keyring only what gpgv verified (core/fetch/signature.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import Cancelled, ChecksumListConflict, InvalidPath
from ..text import printable
from .signature import NOT_SIGNED, SignatureCheck, detached_signature, unchecked, verify

MAX_SUMS_BYTES = 1 << 20  # a checksum list is small; a bigger file is not one
MAX_SIGNATURE_BYTES = 64 * 1024
CHUNK = 1 << 20

# File names that hold checksums, and the algorithm each one holds.
_LIST_NAMES = {"SHA256SUMS": "sha256", "SHA512SUMS": "sha512", "SHA1SUMS": "sha1", "MD5SUMS": "md5"}
_SUFFIXES = {".sha256": "sha256", ".sha512": "sha512", ".sha256sum": "sha256", ".sha512sum": "sha512"}
_DIGEST_LENGTH = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_GNU = re.compile(r"^\\?([0-9a-fA-F]+) [ *](.+)$")
_BSD = re.compile(r"^(MD5|SHA1|SHA256|SHA512) \((.+)\) = ([0-9a-fA-F]+)$")


@dataclass(frozen=True)
class SumsEntry:
    """What a checksum file beside an image says the image's digest is."""

    sums_file: Path
    algorithm: str
    expected: str
    signature: SignatureCheck = NOT_SIGNED


@dataclass(frozen=True)
class SumsCheck:
    """An image's digest against what a checksum file beside it says."""

    sums_file: Path
    algorithm: str
    expected: str
    actual: str
    signature: SignatureCheck = NOT_SIGNED

    @property
    def matches(self) -> bool:
        return self.actual == self.expected

    def sentence(self, keyring_hint: str = "--keyring") -> str:
        if self.matches:
            signed = f" ({self.signature.sentence(keyring_hint)})" if self.signature.signed else ""
            return f"{self.algorithm} matches {self.sums_file.name}{signed}"
        return (f"{self.algorithm} does not match {self.sums_file.name}: the file has "
                f"{self.actual}, the list says {self.expected}")  # fmt: skip


def sums_algorithm(path: Path) -> str | None:
    """The algorithm a checksum file holds, by its name; None when it is not one. Fedora's
    `...-CHECKSUM` tags every line with its algorithm; sha256 is only the fallback."""
    if path.name.upper() in _LIST_NAMES:
        return _LIST_NAMES[path.name.upper()]
    if path.name.upper().endswith(("CHECKSUM", "CHECKSUMS")):
        return "sha256"
    return _SUFFIXES.get(path.suffix.lower())


def parse_sums(text: str, algorithm: str) -> dict[str, tuple[str, str]]:
    """Every entry of a checksum file: name -> (algorithm, lower-case hex digest)."""
    return _parse(text, algorithm)[0]


def _parse(text: str, algorithm: str) -> tuple[dict[str, tuple[str, str]], set[str]]:
    """The entries, and the names listed twice with different digests of one algorithm."""
    entries: dict[str, tuple[str, str]] = {}
    conflicts: set[str] = set()
    for line in text.splitlines():
        line = line.strip()
        bsd = _BSD.match(line)
        if bsd:
            algo, name, digest = bsd.group(1).lower(), bsd.group(2), bsd.group(3)
        elif gnu := _GNU.match(line):
            algo, digest, name = algorithm, gnu.group(1), gnu.group(2)
        else:
            continue
        if len(digest) != _DIGEST_LENGTH.get(algo, -1):
            continue
        name = _plain_name(name)
        previous = entries.get(name)
        if previous is not None and previous[0] == algo and previous[1] != digest.lower():
            conflicts.add(name)
        entries[name] = (algo, digest.lower())
    return entries, conflicts


def _plain_name(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def find_sums(image: Path, keyring: Path | None = None) -> SumsEntry | None:
    """The entry for `image` in a checksum file beside it. A file named after the image
    (`disk.img.sha256`) comes first, then the lists, strongest first. With a keyring, the
    file's signature is verified (SignatureInvalid when gpgv refuses it)."""
    folder = image.parent
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return None
    candidates = [folder / n for n in names if sums_algorithm(folder / n) and n != image.name]
    candidates.sort(key=lambda p: (not p.name.startswith(image.name + "."), -_strength(p)))
    for candidate in candidates:
        data = _read_bytes(candidate, MAX_SUMS_BYTES)
        if data is None:
            continue
        sig_file = detached_signature(candidate)
        signature = _read_bytes(sig_file, MAX_SIGNATURE_BYTES) if sig_file else None
        entry = sums_entry(candidate, image.name, *unchecked(data, signature))
        if entry is None:
            continue
        if keyring is None:
            return entry
        # Only the verified text counts: the entry is looked up again in it.
        return sums_entry(candidate, image.name, *verify(data, signature, keyring, sig_file))
    return None


def sums_entry(sums_file: Path, name: str, text: bytes, signature: SignatureCheck) -> SumsEntry | None:
    """What the checksum text says about the file called `name`."""
    algorithm = sums_algorithm(sums_file)
    if algorithm is None:
        return None
    # utf-8-sig: a list saved by Windows tools starts with a byte order mark, which would
    # hide its first line (and a mismatch it reports).
    entries, conflicts = _parse(text.decode("utf-8-sig", errors="replace"), algorithm)
    if name not in entries and sums_file.name.startswith(name + ".") and len(entries) == 1:
        name = next(iter(entries))  # the one entry of a file named after the image
    if name in conflicts:
        # which line is right cannot be told; `sha256sum -c` reports the one that fails
        raise ChecksumListConflict(
            f"{sums_file.name} gives {printable(name)!r} two different digests; it was not trusted."
        )
    return SumsEntry(sums_file, *entries[name], signature) if name in entries else None


def _strength(path: Path) -> int:
    return _DIGEST_LENGTH.get(sums_algorithm(path) or "", 0)


def _open_regular(path: Path) -> BinaryIO:
    """`path` opened for reading if it is a regular file when opened, not only when checked:
    a FIFO swapped in after an is_file() would block a plain open (or read) for ever."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    f = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        f.close()
        raise OSError(errno.EINVAL, "not a regular file")
    return f


def _read_bytes(path: Path, limit: int) -> bytes | None:
    try:
        with _open_regular(path) as f:
            data = f.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def hash_file(path: Path, algorithm: str, cancel: threading.Event | None = None) -> str:
    """The hex digest of a whole file, read in chunks; Cancelled when `cancel` is set."""
    hasher = hashlib.new(algorithm)
    with _open_regular(path) as f:
        while chunk := f.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled("The checksum was cancelled.")
            hasher.update(chunk)
    return hasher.hexdigest()


def check_sums(image: Path, entry: SumsEntry, cancel: threading.Event | None = None) -> SumsCheck:
    """Hash the image (a regular file: never a device or a fifo that never ends) and compare."""
    try:
        if not image.is_file():
            raise InvalidPath(f"{image} is not a regular file, so its checksum was not computed.")
        actual = hash_file(image, entry.algorithm, cancel)
    except OSError as exc:
        raise InvalidPath(f"{image} could not be read for its checksum: {exc.strerror}.") from None
    return SumsCheck(entry.sums_file, entry.algorithm, entry.expected, actual, entry.signature)


def check_against_sums(
    image: Path, cancel: threading.Event | None = None, keyring: Path | None = None
) -> SumsCheck | None:
    """The image checked against the checksum file beside it; None when no such file
    lists it. The CLI's one call; the window finds the entry while it inspects and hashes
    in a task of its own, so that the verdict does not wait for the hash."""
    entry = find_sums(image, keyring)
    return None if entry is None else check_sums(image, entry, cancel)
