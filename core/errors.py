"""The exceptions core raises. `str(exc)` is the one sentence a user sees."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .inspect.verdict import Violation


class DiskscopeError(Exception):
    """Base of every error a user can cause; its message is one sentence."""


class InvalidPath(DiskscopeError):
    """The path does not name a regular file we can read."""


class QemuImgNotFound(DiskscopeError):
    """No usable qemu-img binary."""


class QemuImgError(DiskscopeError):
    """qemu-img ran and failed."""

    def __init__(self, message: str, *, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr


class QemuImgLimitExceeded(QemuImgError):
    """qemu-img was stopped by its CPU-time, memory or wall-clock limit."""


class MeasureUnsupported(QemuImgError):
    """`qemu-img measure` does not know the target format (vpc, vhdx, vdi in qemu 7.2)."""


class UnsafeImage(DiskscopeError):
    """The image failed the safety gate; `violations` says why."""

    def __init__(self, message: str, violations: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.violations = violations

    @classmethod
    def refused(cls, subject: str, violations: Sequence[Violation]) -> UnsafeImage:
        """The one refusal sentence: `subject` names the image, the first violation says why."""
        return cls(f"{subject} was refused: {violations[0].message}", tuple(violations))


class ApplianceProblem(StrEnum):
    """What makes an OVA or OVF unusable, for callers (and tests) to branch on."""

    NOT_AN_APPLIANCE = "not_an_appliance"
    MEMBER_NAME = "member_name"  # `..`, an absolute path, an empty name
    MEMBER_TYPE = "member_type"  # a link, a device, a folder: anything but a regular file
    DUPLICATE_MEMBER = "duplicate_member"
    TRUNCATED = "truncated"
    BAD_TAR = "bad_tar"  # headers tarfile cannot read, or an extended header too large to read
    BAD_HREF = "bad_href"  # a File that points outside the appliance, or at a URL
    MISSING_FILE = "missing_file"
    MALFORMED_XML = "malformed_xml"
    FORBIDDEN_XML = "forbidden_xml"  # a DTD, entities, an external reference
    DESCRIPTOR = "descriptor"  # well-formed, but not an OVF we can read
    SIZE_MISMATCH = "size_mismatch"
    UNSUPPORTED = "unsupported"  # compressed or chunked files, a disk format we do not know
    MANIFEST_MISMATCH = "manifest_mismatch"
    MANIFEST_MISSING = "manifest_missing"  # the manifest lists a file the appliance lacks
    MANIFEST_EXTRA = "manifest_extra"  # the appliance holds a file the manifest leaves out
    MANIFEST_MALFORMED = "manifest_malformed"
    SIGNATURE = "signature"  # the certificate's signature does not match the manifest


class UnsafeAppliance(UnsafeImage):
    """An OVA or OVF refused as a whole before any disk in it is opened; `problem` says why."""

    def __init__(self, message: str, problem: ApplianceProblem) -> None:
        super().__init__(message)
        self.problem = problem


class Cancelled(DiskscopeError):
    """The user cancelled the job; `signo` is the signal that asked (the CLI exits 128 + it)."""

    signo: int = 2  # SIGINT: Ctrl-C, or Cancel in the window


class InvalidPolicy(DiskscopeError):
    """A policy value a user typed that cannot be used."""


# -- files we write ------------------------------------------------------------------------


class NotEnoughSpace(DiskscopeError):
    """The destination filesystem cannot hold the output (a conversion's or a download's)."""


class DestinationExists(DiskscopeError):
    """The destination exists and overwriting was not asked for."""


class UnsuitableDestination(DiskscopeError):
    """The destination is not a regular file (a link, a device, a folder...)."""


class DestinationChanged(DiskscopeError):
    """The destination folder, or our private folder in it, was removed or replaced."""


class FileInTheWay(DiskscopeError):
    """Something we did not create is where the download's files go; it is left untouched."""


class DestinationNotWritable(DiskscopeError):
    """The destination folder does not take the download's files."""


# -- conversion ----------------------------------------------------------------------------


class ConversionStalled(DiskscopeError):
    """qemu-img made no progress and did no I/O for the stall timeout."""


class VerificationFailed(DiskscopeError):
    """The output is not what was asked for."""


class SourceChanged(DiskscopeError):
    """The source file changed between inspection and the end of the conversion."""


# -- downloads -----------------------------------------------------------------------------


class DownloadFailed(DiskscopeError):
    """The server or the network did not deliver."""


class Unauthorized(DownloadFailed):
    """401 or 403 from the server; `status` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class NotFound(DownloadFailed):
    """The server has no such thing (404, or 410 Gone); `status` says which."""

    def __init__(self, message: str, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


class NetworkProblem(StrEnum):
    """What went wrong below HTTP, told apart by the exception types of requests, urllib3
    and the socket layer (never by their messages); the value is the words a user reads."""

    TIMEOUT = "the server stopped sending data"
    REFUSED = "connection refused"
    UNKNOWN_HOST = "the host name is unknown"
    OTHER = "connection error"


class NetworkError(DownloadFailed):
    """The connection failed or timed out (the download retries it); the message is
    scrubbed of query strings and tokens."""

    def __init__(self, message: str, problem: NetworkProblem) -> None:
        super().__init__(message)
        self.problem = problem


class DownloadStalled(DownloadFailed):
    """Less than STALL_BYTES arrived within the stall timeout."""


class InvalidToken(DiskscopeError):
    """The token could not be sent as an X-Auth-Token; the message never quotes it."""


class ChecksumMismatch(DiskscopeError):
    """The bytes are not the ones the server or the user promised."""


class PartialFileChanged(DiskscopeError):
    """The verified `.part` is no longer the file the download wrote."""


# -- cloud logins --------------------------------------------------------------------------


class LoginFailed(DiskscopeError):
    """Keystone, or the settings, did not let us log in."""


class PasswordNeeded(LoginFailed):
    """The cloud names a user but no password: the window asks for one."""


class CloudNotFound(LoginFailed):
    """No clouds.yaml names this cloud."""


# -- compressed images and published checksums -----------------------------------------------


class DamagedCompressedFile(DiskscopeError):
    """The compressed data is cut short, corrupt, or not what its magic says."""


class UnsupportedArchive(DiskscopeError):
    """A zip that is not exactly one unencrypted image, or a method we cannot read."""


class DecompressionBomb(UnsafeImage):
    """The stream inflates past what the image inside declares, or past the limit."""


class SignatureInvalid(UnsafeImage):
    """gpgv did not accept the signature on a checksum file: a refusal."""


class ChecksumListConflict(UnsafeImage):
    """A checksum list names one file twice with different digests: a refusal."""


class SignatureUnchecked(DiskscopeError):
    """gpgv could not be run, or the signature could not be read at all."""


# -- uploads -------------------------------------------------------------------------------


class UploadFailed(DiskscopeError):
    """The image service did not take the image (or the network did not carry it)."""


class UploadStalled(UploadFailed):
    """The image service took no data for the stall timeout."""


class ImportFailed(UploadFailed):
    """Glance took the data but its import task failed; the message is the task's."""


class WrongDiskFormat(DiskscopeError):
    """The disk format given is not the one our inspector found in the file."""


class InvalidProperty(DiskscopeError):
    """A property value the server's image schema (or its metadata definitions) refuses."""
