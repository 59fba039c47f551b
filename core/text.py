"""Text fit to show a person: untrusted strings made inert, secrets left out.

File, backing and Glance names and server messages are chosen by whoever made the
image or runs the server. Printed raw, an escape sequence in one can rewrite what
the terminal shows ("SAFE" over "REFUSED") and a bidi override can reverse it.
Tokens and the query strings of signed URLs (`temp_url_sig=...`) are secrets: they
are removed from every message and log line before it is written anywhere.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import unicodedata

# C0 and C1 controls, DEL, format characters (bidi overrides and isolates, zero-width
# marks), line and paragraph separators, and the lone surrogates of undecodable bytes.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_SUSPECT = re.compile(r"[^\x20-\x7e]")
_QUERY = re.compile(r"(?<=[\w/.%~-])\?(?=[^\s\"'<>]*=)[^\s\"'<>]+")
_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}  # as repr() writes them
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def _escape(match: re.Match[str]) -> str:
    char = match[0]
    if unicodedata.category(char) not in _HIDDEN:
        return char
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte of a file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """`text` with every control, bidi or invisible character shown as an escape (`\\x1b`)."""
    return _SUSPECT.sub(_escape, text)


def printable_lines(text: str) -> str:
    """Like `printable`, but the line breaks of a multi-line text we wrote ourselves stay."""
    return "\n".join(printable(line) for line in text.split("\n"))


def json_text(data: object) -> str:
    """Indented JSON that keeps non-ASCII names readable but holds no raw control character.

    json.dumps(ensure_ascii=False) escapes only U+0000-U+001F; DEL, C1 controls (U+009B is
    a CSI to many terminals) and bidi overrides would reach the terminal raw. They can only
    occur inside strings, where a \\uXXXX escape decodes to the same value.
    """
    return _SUSPECT.sub(_json_escape, json.dumps(data, indent=2, ensure_ascii=False))


def _json_escape(match: re.Match[str]) -> str:
    char = match[0]
    if char == "\n" or unicodedata.category(char) not in _HIDDEN:  # a raw \n is indentation
        return char
    return json.dumps(char)[1:-1]  # \u escapes, a surrogate pair above U+FFFF


def remember_secret(secret: str) -> None:
    """From now on `scrub` removes `secret` wherever it appears."""
    if secret:
        with _SECRETS_LOCK:
            _SECRETS.add(secret)


def scrub(text: str) -> str:
    """`text` without any remembered secret and without URL query strings."""
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return _QUERY.sub("?***", text)


class SafeFormatter(logging.Formatter):
    """Log lines (tracebacks included) with secrets scrubbed and control characters escaped.

    Installed on every handler the entry points create, so that it also covers what
    requests and urllib3 log at DEBUG: their request lines carry the whole query string.
    """

    def format(self, record: logging.LogRecord) -> str:
        return printable_lines(scrub(super().format(record)))
