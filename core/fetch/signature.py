"""GPG signatures on checksum files, verified with `gpgv` against a keyring the user names.

Ubuntu signs `SHA256SUMS` with a detached `SHA256SUMS.gpg`, Debian `SHA512SUMS` with
`SHA512SUMS.sign`, Fedora clearsigns its `CHECKSUM`. gpgv runs with an empty private
home (so no default keyring of the user's takes part), a C locale and a timeout. Only the
text gpgv verified is ever read for checksums: for a clearsigned file, what gpgv writes
out, never the bytes around the armour. An armoured keyring (`fedora.gpg` is one) is
dearmoured first: gpgv reads binary keyrings only.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import SignatureInvalid, SignatureUnchecked

logger = logging.getLogger(__name__)

DETACHED_SUFFIXES = (".gpg", ".sig", ".sign", ".asc")
CLEARSIGN_BEGIN = b"-----BEGIN PGP SIGNED MESSAGE-----"
_SIGNATURE_BEGIN = b"-----BEGIN PGP SIGNATURE-----"
_ARMOR = re.compile(
    rb"-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n(.*?)-----END PGP PUBLIC KEY BLOCK-----", re.S
)
_MAX_KEYRING = 16 << 20
GPGV_TIMEOUT = 60.0


@dataclass(frozen=True)
class SignatureCheck:
    """What is known about who signed a checksum file."""

    signed: bool  # a signature was found (detached beside it, or clearsigned)
    verified: bool  # gpgv accepted it against the user's keyring
    signer: str | None = None  # the user id gpgv names
    fingerprint: str | None = None
    signature_file: Path | None = None

    def sentence(self, keyring_hint: str = "--keyring") -> str:
        """`keyring_hint`: where this front end takes a keyring (the CLI's flag, the window's Settings)."""
        if self.verified:
            return f"signed by {self.signer} (key {self.fingerprint})"
        if self.signed:
            return f"signature not checked: no keyring given ({keyring_hint})"
        return "not signed"


NOT_SIGNED = SignatureCheck(signed=False, verified=False)


def is_clearsigned(data: bytes) -> bool:
    return data.lstrip().startswith(CLEARSIGN_BEGIN)


def clearsigned_text(data: bytes) -> bytes:
    """The message of a clearsigned file, unverified: what lies between the armour lines,
    dash-escaping undone. Text around the armour is not part of it."""
    start = data.find(CLEARSIGN_BEGIN)
    body_start = data.find(b"\n\n", start)
    if body_start < 0:
        body_start = data.find(b"\r\n\r\n", start)
    end = data.find(_SIGNATURE_BEGIN, start)
    if start < 0 or body_start < 0 or end < body_start:
        return b""
    lines = data[body_start:end].strip(b"\r\n").splitlines()
    return b"\n".join(line[2:] if line.startswith(b"- ") else line for line in lines) + b"\n"


def detached_signature(sums_file: Path) -> Path | None:
    """The signature file beside a checksum file (SHA256SUMS.gpg, ...), if there is one."""
    for suffix in DETACHED_SUFFIXES:
        candidate = sums_file.with_name(sums_file.name + suffix)
        if candidate.is_file():
            return candidate
    return None


def unchecked(data: bytes, signature: bytes | None) -> tuple[bytes, SignatureCheck]:
    """The checksum text and its check when no keyring was given."""
    if is_clearsigned(data):
        return clearsigned_text(data), SignatureCheck(signed=True, verified=False)
    return data, SignatureCheck(signed=signature is not None, verified=False)


def verify(data: bytes, signature: bytes | None, keyring: Path, signature_file: Path | None = None) -> tuple[
    bytes, SignatureCheck
]:  # fmt: skip
    """The text gpgv verified, and who signed it; SignatureInvalid when gpgv refuses it
    (a bad signature, an unknown or revoked key, no signature at all)."""
    gpgv = shutil.which("gpgv")
    if gpgv is None:
        raise SignatureUnchecked("gpgv is not installed, so the signature cannot be verified.")
    if signature is None and not is_clearsigned(data):
        raise SignatureInvalid("The checksum file is not signed, but a keyring was given to verify it with.")
    home = Path(tempfile.mkdtemp(prefix="diskscope-gpgv-"))
    try:
        ring = _binary_keyring(keyring, home)
        data_path, output = home / "data", home / "signed"
        data_path.write_bytes(data)
        args = [gpgv, "--homedir", str(home), "--status-fd", "1", "--keyring", str(ring)]
        if signature is not None:
            sig_path = home / "data.sig"
            sig_path.write_bytes(signature)
            args += [str(sig_path), str(data_path)]
        else:
            args += ["--output", str(output), str(data_path)]
        status, code = _run(args, home)
        signed_text = data if signature is not None else _read(output)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return signed_text, _judge(status, code, signature_file)


def _run(args: list[str], home: Path) -> tuple[str, int]:
    logger.info("running %s", shlex.join(args))
    env = {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GNUPGHOME": str(home)}
    try:
        done = subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL, env=env,
                              timeout=GPGV_TIMEOUT, check=False)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SignatureUnchecked(f"gpgv could not verify the signature ({type(exc).__name__}).") from None
    logger.debug("gpgv said: %s", done.stderr.decode("utf-8", "replace"))
    return done.stdout.decode("utf-8", "replace"), done.returncode


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def _judge(status: str, code: int, signature_file: Path | None) -> SignatureCheck:
    lines = [line.split(" ", 3)[1:] for line in status.splitlines() if line.startswith("[GNUPG:] ")]
    keywords = {words[0] for words in lines if words}
    good = next((words for words in lines if words[0] == "GOODSIG" and len(words) == 3), None)
    valid = next((words for words in lines if words[0] == "VALIDSIG" and len(words) >= 2), None)
    refused = keywords & {"BADSIG", "ERRSIG", "REVKEYSIG", "EXPKEYSIG", "EXPSIG", "NO_PUBKEY"}
    if code != 0 or refused or good is None or valid is None:
        raise SignatureInvalid(f"The checksum file's signature was refused: {_why(keywords)}.")
    fingerprint = valid[1].split(" ")[0]
    return SignatureCheck(True, True, good[2], fingerprint, signature_file)


def _why(keywords: set[str]) -> str:
    if "BADSIG" in keywords:
        return "it is bad (the file was changed after it was signed)"
    if "NO_PUBKEY" in keywords:
        return "the key that made it is not in the keyring"
    if keywords & {"REVKEYSIG", "EXPKEYSIG", "EXPSIG"}:
        return "the key or the signature has expired or been revoked"
    return "gpgv found no good signature"


def _binary_keyring(keyring: Path, home: Path) -> Path:
    """The keyring as gpgv reads it: the file itself, or a binary copy of an armoured one."""
    try:
        # O_NONBLOCK and a regular file only: a FIFO named as the keyring must not hang us.
        fd = os.open(keyring, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SignatureUnchecked(f"The keyring {keyring} is not a regular file.")
            data = f.read(_MAX_KEYRING + 1)
    except OSError as exc:
        raise SignatureUnchecked(f"The keyring {keyring} cannot be read: {exc.strerror}.") from None
    if len(data) > _MAX_KEYRING:
        raise SignatureUnchecked(f"The keyring {keyring} is larger than a keyring can be.")
    blocks = _ARMOR.findall(data)
    ring = home / "keyring.gpg"
    if not blocks:
        ring.write_bytes(data)
        return ring
    try:
        ring.write_bytes(b"".join(_dearmor(block) for block in blocks))
    except (ValueError, binascii.Error):
        raise SignatureUnchecked(f"The keyring {keyring} is damaged armour.") from None
    return ring


def _dearmor(block: bytes) -> bytes:
    """The key packets of one armoured block: headers, then base64, then the `=CRC` line."""
    header, _, body = block.replace(b"\r\n", b"\n").partition(b"\n\n")
    if not body:
        body = header  # no armour headers at all
    lines = [line for line in body.split(b"\n") if line and not line.startswith(b"=")]
    return base64.b64decode(b"".join(lines), validate=True)
