"""Checksum files published beside an image on a server: `--checksums-url URL`, or
`--checksums auto`, which looks in the image's own directory for the names distributions
use. The list (and its signature, verified with gpgv when a keyring is given) says what
the compressed or plain file being downloaded must hash to."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import requests

from ..errors import DiskscopeError, NotFound, Unauthorized
from .checksums import Checksum
from .http import HttpOptions, get, raise_for_status, redact
from .signature import DETACHED_SUFFIXES, unchecked, verify
from .sums import MAX_SIGNATURE_BYTES, MAX_SUMS_BYTES, sums_entry

AUTO_NAMES = ("SHA256SUMS", "SHA512SUMS", "{name}.sha256", "{name}.sha512", "CHECKSUM")


def published_checksum(
    session: requests.Session,
    options: HttpOptions,
    image_url: str,
    sums_url: str | None = None,
    keyring: Path | None = None,
) -> Checksum:
    """What the published list says `image_url` must hash to; DiskscopeError when no list
    names it, SignatureInvalid when gpgv refuses the list's signature."""
    name = unquote(os.path.basename(urlsplit(image_url).path))
    if sums_url is not None:
        candidates = [sums_url]
    else:
        candidates = [urljoin(image_url, quote(n.format(name=name))) for n in AUTO_NAMES]
    for url in candidates:
        data = _small(session, options, url, MAX_SUMS_BYTES, missing_ok=sums_url is None)
        if data is None:
            continue
        signature = None
        for suffix in DETACHED_SUFFIXES:
            signature = _small(session, options, url + suffix, MAX_SIGNATURE_BYTES, missing_ok=True)
            if signature is not None:
                break
        listed = Path(unquote(os.path.basename(urlsplit(url).path)) or "SHA256SUMS")
        text, check = verify(data, signature, keyring) if keyring else unchecked(data, signature)
        entry = sums_entry(listed, name, text, check)
        if entry is not None:
            signed = f", {check.sentence()}" if check.signed else ""
            return Checksum(entry.algorithm, entry.expected, f"{listed.name}{signed}")
        if sums_url is not None:
            raise DiskscopeError(f"The checksum file {redact(url)} does not list {name}.")
    looked = ", ".join(n.format(name=name) for n in AUTO_NAMES)
    raise DiskscopeError(f"No checksum file beside {redact(image_url)} lists {name} (looked for {looked}).")


def _small(
    session: requests.Session, options: HttpOptions, url: str, limit: int, *, missing_ok: bool
) -> bytes | None:
    """A small file from the server, whole; None for a 404 when that is fine."""
    response = get(session, url, options, stream=True)
    with response:
        if response.status_code >= 400:
            response.raw.read(64 * 1024)  # a short error page, read so the connection is kept, not reset
        try:
            raise_for_status(response, f"the checksum file {redact(url)}")
        except (NotFound, Unauthorized):  # object stores answer 403 for what they do not have
            if missing_ok:
                return None
            raise
        data = response.raw.read(limit + 1, decode_content=True)
    if len(data) > limit:
        raise DiskscopeError(f"{redact(url)} is larger than a checksum file can be ({limit:,} bytes).")
    return bytes(data)
