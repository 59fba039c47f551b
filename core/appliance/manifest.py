"""The manifest (`.mf`): one `SHA256(name)= hex` line per file of the appliance.

Every file the manifest lists must be in the appliance with that digest, and every file
of the appliance but the manifest and its certificate must be listed: a file slipped in
beside the signed ones would otherwise ride along unchecked.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ApplianceProblem, UnsafeAppliance
from ..text import printable
from .tar import Piece

MAX_MANIFEST = 1 << 20
_LINE = re.compile(r"^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$")
_DIGEST_LENGTH = {"sha1": 40, "sha256": 64, "sha512": 128}
CHUNK = 1 << 20


@dataclass(frozen=True)
class ManifestEntry:
    algorithm: str  # hashlib's name: sha1, sha256, sha512
    name: str
    digest: str  # lower-case hex


@dataclass(frozen=True)
class ManifestCheck:
    """What the verified manifest vouches for."""

    name: str
    algorithms: tuple[str, ...]
    files: tuple[str, ...]

    def sentence(self) -> str:
        algos = "/".join(a.upper() for a in self.algorithms)
        return f"{len(self.files)} files match the manifest {printable(self.name)} ({algos})"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "algorithms": list(self.algorithms), "files": list(self.files)}


def parse_manifest(text: bytes, name: str) -> tuple[ManifestEntry, ...]:
    entries: list[ManifestEntry] = []
    try:
        lines = text.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        lines = ["\0"]
    for line in lines:
        if not line.strip():
            continue
        match = _LINE.match(line.strip())
        if match is None or len(match[3]) != _DIGEST_LENGTH[match[1].lower()]:
            raise UnsafeAppliance(
                f"The manifest {printable(name)} has a line that is not `SHA256(name)= digest`: "
                f"{printable(line.strip()[:80])!r}.",
                ApplianceProblem.MANIFEST_MALFORMED,
            )
        entries.append(ManifestEntry(match[1].lower(), match[2], match[3].lower()))
    if len({e.name for e in entries}) != len(entries):
        raise UnsafeAppliance(
            f"The manifest {printable(name)} lists a file twice.", ApplianceProblem.MANIFEST_MALFORMED
        )
    return tuple(entries)


def verify_manifest(manifest: Piece, files: Mapping[str, Piece]) -> ManifestCheck:
    """Check the appliance's `files` (all but the manifest and certificate) against it."""
    entries = parse_manifest(manifest.read(MAX_MANIFEST), manifest.name)
    listed = {e.name for e in entries}
    for entry in entries:
        if entry.name not in files:
            raise UnsafeAppliance(
                f"The manifest {printable(manifest.name)} lists {printable(entry.name)!r}, "
                "which the appliance does not hold.",
                ApplianceProblem.MANIFEST_MISSING,
            )
    extra = sorted(set(files) - listed)
    if extra:
        raise UnsafeAppliance(
            f"The appliance holds {printable(extra[0])!r}, which its manifest {printable(manifest.name)} "
            "does not list.",
            ApplianceProblem.MANIFEST_EXTRA,
        )
    for entry in entries:
        if digest(files[entry.name], entry.algorithm) != entry.digest:
            raise UnsafeAppliance(
                f"{printable(entry.name)} does not match its {entry.algorithm.upper()} in the manifest "
                f"{printable(manifest.name)}: the appliance was altered or damaged.",
                ApplianceProblem.MANIFEST_MISMATCH,
            )
    return ManifestCheck(
        manifest.name, tuple(sorted({e.algorithm for e in entries})), tuple(e.name for e in entries)
    )


def digest(piece: Piece, algorithm: str) -> str:
    """The hex digest of a piece's bytes, read in place."""
    h = hashlib.new(algorithm)
    fd = os.open(piece.path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        done = 0
        while done < piece.size:
            chunk = os.pread(fd, min(CHUNK, piece.size - done), piece.offset + done)
            if not chunk:
                raise UnsafeAppliance(f"{printable(piece.name)} is cut short.", ApplianceProblem.TRUNCATED)
            h.update(chunk)
            done += len(chunk)
    finally:
        os.close(fd)
    return h.hexdigest()
