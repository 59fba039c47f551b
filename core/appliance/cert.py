"""A signed appliance's certificate (`.cert`): which file it signs, who it names, and whether
the signature matches the certificate's own key.

The certificate itself is not checked against any trust root: anyone can make one that
names anyone, so a matching signature proves only that the manifest is what the holder
of that key signed. The report says so in words. A signature that does not match is a
refusal: the appliance was changed after it was signed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ..errors import ApplianceProblem, UnsafeAppliance
from ..text import printable
from .tar import Piece

logger = logging.getLogger(__name__)

MAX_CERTIFICATE = 1 << 20
NOT_TRUSTED = "the certificate is not checked against any trust root: anyone can make one"
_SIGNATURE = re.compile(r"^(SHA1|SHA256|SHA512)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)\s*$", re.MULTILINE)
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


@dataclass(frozen=True)
class CertificateCheck:
    name: str
    signs: str  # the file the signature covers: the manifest
    algorithm: str
    subject: str | None
    issuer: str | None
    verified: bool  # the signature matches the certificate's key; False: it could not be checked

    def sentence(self) -> str:
        who = f" by {printable(self.subject)}" if self.subject else ""
        if self.verified:
            return f"{printable(self.signs)} is signed{who}; the signature matches; {NOT_TRUSTED}"
        return (
            f"{printable(self.signs)} carries a signature{who} that was not checked (no cryptography package)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "signs": self.signs,
            "algorithm": self.algorithm,
            "subject": self.subject,
            "issuer": self.issuer,
            "signature_matches": self.verified,
            "trusted": False,
        }


def check_certificate(cert: Piece, manifest: Piece | None) -> CertificateCheck:
    data = cert.read(MAX_CERTIFICATE)
    match = _SIGNATURE.search(data.decode("utf-8", "replace"))
    pem = _PEM.search(data)
    if match is None or pem is None:
        raise UnsafeAppliance(
            f"The certificate file {printable(cert.name)} holds no signature line or no certificate.",
            ApplianceProblem.SIGNATURE,
        )
    algorithm, signs, signature = match[1].lower(), match[2], bytes.fromhex(match[3])
    if manifest is None or signs != manifest.name:
        raise UnsafeAppliance(
            f"The certificate file {printable(cert.name)} signs {printable(signs)!r}, which is not the "
            "appliance's manifest.",
            ApplianceProblem.SIGNATURE,
        )
    try:
        from cryptography import x509
    except ImportError:
        logger.info("cryptography is not installed: %s not checked", cert.name)
        return CertificateCheck(cert.name, signs, algorithm, None, None, verified=False)
    try:
        certificate = x509.load_pem_x509_certificate(pem[0])
    except ValueError:
        raise UnsafeAppliance(
            f"The certificate in {printable(cert.name)} cannot be read.", ApplianceProblem.SIGNATURE
        ) from None
    if not _matches(certificate, signature, manifest.read(MAX_CERTIFICATE), algorithm):
        raise UnsafeAppliance(
            f"The signature in {printable(cert.name)} does not match the manifest {printable(signs)}: "
            "the appliance was changed after it was signed.",
            ApplianceProblem.SIGNATURE,
        )
    subject, issuer = certificate.subject.rfc4514_string(), certificate.issuer.rfc4514_string()
    return CertificateCheck(cert.name, signs, algorithm, subject, issuer, verified=True)


def _matches(certificate: Any, signature: bytes, signed: bytes, algorithm: str) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

    digest = {"sha1": hashes.SHA1(), "sha256": hashes.SHA256(), "sha512": hashes.SHA512()}[algorithm]
    key = certificate.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, signed, padding.PKCS1v15(), digest)
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, signed, ec.ECDSA(digest))
        else:
            return False
    except InvalidSignature:
        return False
    return True
