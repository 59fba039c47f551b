"""Publishing a local image to Glance: the gate first, then one streaming pass that sends
and hashes, then Glance's record checked against what we sent.

The image is created only after our inspector passed the file, so an unsafe image never
costs a byte on the wire. The bytes sent are hashed as they go (Glance's `os_hash_algo`,
sha512 by default) and the file must still be the one inspected when the last byte is
sent. Anything that goes wrong after the image record exists (an error, a cancel, a
record that does not match) deletes that record, unless the user asked to keep it: a
queued or half-saved image is clutter in a project's quota, and a mismatching one is worse.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..errors import (
    Cancelled,
    ChecksumMismatch,
    DiskscopeError,
    ImportFailed,
    NetworkError,
    NetworkProblem,
    SourceChanged,
    UploadFailed,
    UploadStalled,
    VerificationFailed,
    WrongDiskFormat,
)
from ..fetch.checksums import BackgroundHasher
from ..fetch.http import MAX_RETRY_AFTER
from ..formats import ImageFormat, parse_format_name
from ..identity import FileIdentity, settled_identity
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..progress import ProgressCallback, ProgressMeter
from ..qemu.qemu_img import QemuImg
from ..safety import ImageReport, inspect_image, require_safe
from ..sizes import human_size
from ..text import printable
from .glance import GlanceClient, GlanceImage
from .glance_write import GlanceWriter
from .properties import Suggestion, check_fields, check_properties, suggest

logger = logging.getLogger(__name__)
CHUNK = 1 << 20
DEFAULT_HASH = "sha512"  # Glance's default `hashing_algorithm`
RETRY_STATUSES = (429, 502, 503, 504)  # a busy or restarting server (or its proxy)
SEND_ATTEMPTS = 4
POLL_INTERVAL = 1.0
LARGE = 1 << 30  # from here on, say that an interrupted upload starts again
_COPIED = re.compile(r"Copied (\d+) MiB")  # Glance's import task message while it copies

# Glance's disk_format for what our inspector found; other formats Glance cannot take.
GLANCE_DISK_FORMATS = {
    ImageFormat.RAW: "raw", ImageFormat.GPT: "raw", ImageFormat.MBR: "raw", ImageFormat.ISO: "iso",
    ImageFormat.QCOW2: "qcow2", ImageFormat.VMDK: "vmdk", ImageFormat.VPC: "vhd",
    ImageFormat.VHDX: "vhdx", ImageFormat.VDI: "vdi", ImageFormat.PARALLELS: "ploop",
}  # fmt: skip


class UploadMethod(StrEnum):
    AUTO = "auto"  # glance-direct where the server offers it, else put
    GLANCE_DIRECT = "glance-direct"  # stage, then import
    PUT = "put"  # PUT /v2/images/ID/file
    WEB_DOWNLOAD = "web-download"  # Glance fetches the image from a URL itself


@dataclass(frozen=True)
class UploadRequest:
    source: Path
    name: str | None = None  # default: the file's name
    disk_format: str | None = None  # must match what our inspector finds
    visibility: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    protected: bool = False  # set only once the image is verified (a protected one cannot be deleted)
    min_disk: int | None = None  # GiB
    min_ram: int | None = None  # MiB
    method: UploadMethod = UploadMethod.AUTO
    url: str | None = None  # web-download: where Glance fetches the same bytes from
    convert_to: str | None = None  # raw, qcow2 or a preset: converted first, next to the source
    keep_on_failure: bool = False
    policy: InspectionPolicy = DEFAULT_POLICY
    stall_timeout: float = 120.0  # seconds the server may take no data
    import_timeout: float = 6 * 3600.0


@dataclass(frozen=True)
class UploadResult:
    image: GlanceImage
    method: UploadMethod
    disk_format: str
    size: int
    virtual_size: int | None
    hash_algo: str
    hash_value: str
    verified: tuple[str, ...]
    notes: tuple[str, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()  # what the image argues for and was not set

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.image.id, "name": self.image.name, "status": self.image.status,
            "method": self.method.value, "disk_format": self.disk_format, "size": self.size,
            "virtual_size": self.virtual_size, "os_hash_algo": self.hash_algo,
            "os_hash_value": self.hash_value, "verified": list(self.verified), "notes": list(self.notes),
            "suggestions": [s.__dict__ for s in self.suggestions],
        }  # fmt: skip


def glance_disk_format(found: ImageFormat, given: str | None) -> str:
    """The disk_format to register: the one our inspector found; a different one given is an error."""
    ours = GLANCE_DISK_FORMATS.get(found)
    if ours is None:
        raise WrongDiskFormat(f"Glance has no disk format for a {found.value} image; convert it first "
                              "(--convert-to raw or qcow2).")  # fmt: skip
    if given is not None and given.strip().lower() != ours:
        try:
            said = parse_format_name(given).value
        except ValueError:
            said = printable(given)
        raise WrongDiskFormat(f"The file is a {found.value} image (Glance disk format {ours}), not "
                              f"{said}; leave --disk-format out or give {ours}.")  # fmt: skip
    return ours


def resume_warning(size: int) -> str | None:
    """What to say before a large upload: Glance keeps nothing of an interrupted one."""
    if size < LARGE:
        return None
    return (f"Glance cannot resume an upload: if this one ({human_size(size)}) is interrupted, "
            "it starts again from the first byte.")  # fmt: skip


def choose_method(wanted: UploadMethod, offered: tuple[str, ...], url: str | None) -> UploadMethod:
    if wanted == UploadMethod.WEB_DOWNLOAD and not url:
        raise UploadFailed("web-download needs the URL Glance should fetch the image from (--url).")
    if url and wanted != UploadMethod.WEB_DOWNLOAD:
        raise UploadFailed("--url is for --method web-download only.")
    if wanted == UploadMethod.AUTO:
        return UploadMethod.GLANCE_DIRECT if "glance-direct" in offered else UploadMethod.PUT
    if wanted != UploadMethod.PUT and wanted.value not in offered:
        which = ", ".join(offered) or "none"
        raise UploadFailed(f"This image service does not offer the {wanted.value} import (it offers: "
                           f"{which}); use --method put.")  # fmt: skip
    return wanted


def _identity(st: os.stat_result) -> FileIdentity:
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class UploadJob:
    """One upload, run once with `run()`; `cancel` stops it (the image record is removed)."""

    def __init__(
        self,
        request: UploadRequest,
        client: GlanceClient,
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.request = request
        self.client = client
        self.writer = GlanceWriter(client)
        self.qemu = qemu
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.created: GlanceImage | None = None  # the record this run made, while it exists
        self.inspected: FileIdentity | None = None  # the source's identity when it was inspected

    def run(self) -> UploadResult:
        request = self.request
        check_properties(request.properties)
        if request.convert_to is None:
            return self._upload(request.source, ())
        folder = self._private_folder(request.source)
        try:
            converted = self._convert(folder)
            note = f"converted to {converted.suffix[1:]} before the upload (a temporary copy, now removed)"
            return self._upload(converted, (note,))
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    # -- the steps ----------------------------------------------------------------------

    def _upload(self, source: Path, notes: tuple[str, ...]) -> UploadResult:
        request = self.request
        path = Path(os.path.realpath(source))
        try:
            os.stat(path)
        except OSError as exc:
            raise UploadFailed(f"{printable(str(source))} cannot be read ({exc.strerror}).") from None
        self.inspected = settled_identity(path)  # a later write changes it, even within one clock tick
        report = require_safe(inspect_image(path, self.qemu, policy=request.policy), str(source))
        disk_format = glance_disk_format(report.format, request.disk_format)
        method = choose_method(request.method, self.writer.import_methods(), request.url)
        fields = self._fields(source, disk_format)
        check_fields(self.writer, fields)
        self._check_cancel()
        self.created = self.writer.create(fields)
        logger.info("created image %s (%s) for %s", self.created.id, disk_format, source)
        try:
            return self._send_and_verify(path, report, method, disk_format, notes)
        except BaseException as exc:
            self._clean_up(exc)
            raise

    def _send_and_verify(
        self, path: Path, report: ImageReport, method: UploadMethod, disk_format: str, notes: tuple[str, ...]
    ) -> UploadResult:
        assert self.created is not None
        image_id = self.created.id
        size = os.stat(path).st_size
        if method == UploadMethod.WEB_DOWNLOAD:
            digest = self._hash_file(path, DEFAULT_HASH, "hashing")
            self.writer.start_import(image_id, {"name": "web-download", "uri": self.request.url or ""})
            self._await_import(image_id, size)
        elif method == UploadMethod.GLANCE_DIRECT:
            digest = self._send(path, f"/v2/images/{image_id}/stage", "staging the image")
            self.writer.start_import(image_id, {"name": "glance-direct"})
            self._await_import(image_id, size)
        else:
            digest = self._send(path, f"/v2/images/{image_id}/file", "uploading the image")
        final = self.client.image(image_id)
        verified, more = self._verify(final, path, report, disk_format, size, digest)
        if self.request.protected:
            final = self.writer.patch(image_id, {"protected": True}, "protecting the image")
        self.created = None  # ours to keep now
        algo = final.os_hash_algo or DEFAULT_HASH
        unset = tuple(s for s in suggest(path, report.format) if s.key not in self.request.properties)
        return UploadResult(final, method, disk_format, size, report.virtual_size, algo,
                            final.os_hash_value or digest, verified, notes + more, unset)  # fmt: skip

    def _fields(self, source: Path, disk_format: str) -> dict[str, Any]:
        r = self.request
        fields: dict[str, Any] = {**r.properties, "name": r.name or source.name,
                                  "disk_format": disk_format, "container_format": "bare"}  # fmt: skip
        optional = {"visibility": r.visibility, "min_disk": r.min_disk, "min_ram": r.min_ram,
                    "tags": list(r.tags) or None}  # fmt: skip
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields

    def _send(self, path: Path, target: str, what: str) -> str:
        """Stream the file to `target`, hashing it on the way; its hex digest. A busy server
        (429, 502, 503, 504) is asked again from the first byte, honouring Retry-After."""
        assert self.inspected is not None  # _upload took it before the gate
        for attempt in range(1, SEND_ATTEMPTS + 1):
            body = _FileBody(
                path, self.inspected, self.cancel, ProgressMeter("uploading", None, self.on_progress)
            )
            timeout = (
                self.request.stall_timeout,
                max(self.request.stall_timeout, self.client.options.read_timeout),
            )
            try:
                response = self.writer.request(
                    "PUT", target, what, data=body, timeout=timeout,
                    headers={"Content-Type": "application/octet-stream"},
                    expect=(204, 201, 200, *RETRY_STATUSES),
                )  # fmt: skip
                if response.status_code not in RETRY_STATUSES:
                    if body.sent != body.size:
                        sent = f"{human_size(body.sent)} of {human_size(body.size)}"
                        raise UploadFailed(
                            f"The image service answered before it had the whole image ({sent})."
                        )
                    body.check_unchanged()
                    return body.hexdigest()
            except NetworkError as exc:
                if exc.problem == NetworkProblem.TIMEOUT:
                    raise UploadStalled(
                        f"The image service took no data for {self.request.stall_timeout:g} seconds while "
                        f"{what} ({human_size(body.sent)} sent); the upload was stopped."
                    ) from None
                raise
            finally:
                body.close()
            wait = _retry_after(response.headers.get("Retry-After"), attempt)
            logger.warning("%s: the server answered %s; trying again in %.1f s (attempt %d of %d)",
                           what, response.status_code, wait, attempt + 1, SEND_ATTEMPTS)  # fmt: skip
            if attempt == SEND_ATTEMPTS:
                break
            if self.cancel.wait(wait):
                raise Cancelled("The upload was cancelled.")
        raise UploadFailed(f"The image service answered {response.status_code} {response.reason} to "
                           f"{what} {SEND_ATTEMPTS} times; try again later.")  # fmt: skip

    def _await_import(self, image_id: str, size: int) -> None:
        """Wait for Glance's import task; its failure message becomes the error."""
        meter = ProgressMeter("importing", size, self.on_progress)
        deadline = time.monotonic() + self.request.import_timeout
        for polls in itertools.count():
            image = self.client.image(image_id)
            failed = str(image.raw.get("os_glance_failed_import") or "")
            task = self._latest_task(image_id)
            if image.status == "active" and not failed:
                return
            if failed or image.status in ("killed", "deleted") or task.get("status") == "failure":
                said = printable(str(task.get("message") or "")).strip()
                why = f": {said[:300]}" if said else f" (image status {printable(image.status)})"
                raise ImportFailed(f"Glance's import of the image failed{why}.")
            copied = _COPIED.search(str(task.get("message") or ""))
            if copied:
                meter.update(int(copied[1]) << 20)
            if time.monotonic() > deadline:
                raise ImportFailed(f"Glance's import did not finish within {self.request.import_timeout:g} "
                                   "seconds.")  # fmt: skip
            if self.cancel.wait(min(POLL_INTERVAL, 0.1 * 2**polls)):  # a small image is done at once
                raise Cancelled("The upload was cancelled while Glance imported the image.")

    def _latest_task(self, image_id: str) -> dict[str, Any]:
        """The newest import task of the image; empty where the policy does not show tasks."""
        try:
            listing = self.client.document(f"/v2/images/{image_id}/tasks", "the import tasks")
        except DiskscopeError:
            return {}
        tasks = listing.get("tasks") if isinstance(listing, dict) else None
        tasks = [t for t in tasks if isinstance(t, dict)] if isinstance(tasks, list) else []
        return max(tasks, key=lambda t: str(t.get("created_at") or ""), default={})

    def _verify(
        self, final: GlanceImage, path: Path, report: ImageReport, disk_format: str, size: int, digest: str
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What was checked, and notes; raises when Glance's record is not what we sent."""
        if final.status != "active":
            raise UploadFailed(f"Glance left the image {printable(final.status)}, not active.")
        if final.disk_format != disk_format:  # Glance's image_conversion plugin
            note = (f"Glance converted the image to {printable(final.disk_format or '?')} on import; its "
                    "size and hash are of the converted data, so they were not compared")  # fmt: skip
            return (), (note,)
        verified = []
        if final.size != size:
            raise VerificationFailed(f"Glance stored {final.size} bytes, but {size} were sent.")
        verified.append(f"size: {size:,} bytes")
        algo = final.os_hash_algo or DEFAULT_HASH
        ours = digest if algo == DEFAULT_HASH else self._hash_file(path, algo, "hashing")
        if (final.os_hash_value or "").lower() != ours:
            raise ChecksumMismatch(f"Glance's {printable(algo)} of the stored image is not the one of the "
                                   "bytes sent.")  # fmt: skip
        verified.append(f"{algo}: Glance's os_hash_value is the hash of the bytes sent")
        notes: tuple[str, ...] = ()
        if final.virtual_size is None or report.virtual_size is None:
            notes = ("Glance did not report a virtual size to compare",)
        elif final.virtual_size != report.virtual_size:
            raise VerificationFailed(f"Glance reads a virtual size of {final.virtual_size:,} bytes; the "
                                     f"image has {report.virtual_size:,}.")  # fmt: skip
        else:
            verified.append(f"virtual size: {report.virtual_size:,} bytes")
        return tuple(verified), notes

    def _hash_file(self, path: Path, algo: str, phase: str) -> str:
        meter = ProgressMeter(phase, os.stat(path).st_size, self.on_progress)
        hasher = hashlib.new(algo)
        with open(path, "rb") as f:
            while block := f.read(CHUNK):
                self._check_cancel()
                hasher.update(block)
                meter.update(meter.done + len(block))
        return hasher.hexdigest()

    def _clean_up(self, exc: BaseException) -> None:
        """Remove the record this run created (unless asked to keep it) and say so in `exc`."""
        image = self.created
        if image is None:
            return
        self.created = None
        label = f"{printable(image.name or '')} ({image.id})"
        if self.request.keep_on_failure:
            note = f"The image {label} was kept in Glance, as asked."
        else:
            try:
                self.writer.delete(image.id)
                note = f"The image {label} was removed from Glance."
            except DiskscopeError as failed:
                note = (f"The image {label} could not be removed ({failed}); remove it with "
                        f"`openstack image delete {image.id}`.")  # fmt: skip
        logger.info("after a failed upload: %s", note)
        if isinstance(exc, DiskscopeError):
            exc.args = (f"{exc} {note}",)

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("The upload was cancelled.")

    # -- --convert-to -------------------------------------------------------------------

    @staticmethod
    def _private_folder(source: Path) -> Path:
        try:
            return Path(tempfile.mkdtemp(prefix=".diskscope-upload-", dir=source.resolve().parent))
        except OSError as exc:
            raise UploadFailed(f"No temporary copy can be made next to {printable(str(source))} "
                               f"({exc.strerror}).") from None  # fmt: skip

    def _convert(self, folder: Path) -> Path:
        from ..convert.job import ConvertJob
        from ..convert.presets import PRESETS
        from ..convert.request import ConvertRequest

        r = self.request
        target = r.convert_to or ""
        ext = PRESETS[target].target if target in PRESETS else target
        destination = folder / f"{r.source.stem}.{ext}"
        if target in PRESETS:
            convert = ConvertRequest.from_preset(target, r.source, destination, policy=r.policy)
        elif target in ("raw", "qcow2"):
            convert = ConvertRequest(r.source, destination, target, policy=r.policy)
        else:
            raise UploadFailed(f"--convert-to takes raw, qcow2 or a preset, not {printable(target)}.")
        self.request = replace(r, name=r.name or r.source.name)
        ConvertJob(convert, self.qemu, on_progress=self.on_progress, cancel=self.cancel).run()
        return destination


def _retry_after(header: str | None, attempt: int) -> float:
    try:
        given = float(header) if header else None
    except ValueError:
        given = None
    return min(MAX_RETRY_AFTER, given if given is not None else 0.5 * 2 ** (attempt - 1))


class _FileBody:
    """The file as a request body of known length, read in chunks as it is sent: hashed on
    the way (in a second thread), progress reported, and cancel honoured between chunks."""

    def __init__(
        self, path: Path, inspected: FileIdentity, cancel: threading.Event, meter: ProgressMeter
    ) -> None:
        self.path, self.inspected, self.cancel, self.meter = path, inspected, cancel, meter
        self.file = open(path, "rb")  # noqa: SIM115 - closed by close()
        self.hasher = BackgroundHasher({DEFAULT_HASH})
        self.sent, self.size = 0, inspected.size
        meter.total = self.size
        try:
            self.check_unchanged()
        except SourceChanged:
            self.close()
            raise

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        while block := self.file.read(CHUNK):
            if self.cancel.is_set():
                raise Cancelled("The upload was cancelled.")
            self.hasher.update(block)
            self.sent += len(block)
            self.meter.update(self.sent)
            yield block
        self.meter.update(self.sent, force=True)

    def check_unchanged(self) -> None:
        if _identity(os.fstat(self.file.fileno())) != self.inspected:
            raise SourceChanged(f"{printable(str(self.path))} changed after it was inspected.")

    def hexdigest(self) -> str:
        return self.hasher.hexdigests()[DEFAULT_HASH]

    def close(self) -> None:
        self.hasher.close()
        self.file.close()


class ConnectingUpload:
    """An upload that first connects (a Keystone login can take seconds, so the window
    does it in the job's thread, not its own); `client` is set once connected."""

    def __init__(
        self,
        request: UploadRequest,
        connect: Callable[[], GlanceClient],
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.request, self.connect, self.qemu, self.on_progress = request, connect, qemu, on_progress
        self.cancel = threading.Event()
        self.client: GlanceClient | None = None

    def run(self) -> UploadResult:
        self.client = self.connect()
        self._check_cancel()
        return UploadJob(self.request, self.client, self.qemu, self.on_progress, self.cancel).run()

    def _check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("The upload was cancelled before it started.")
