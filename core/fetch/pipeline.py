"""fetch and fetch-to-raw: download (verified, inspected while streaming), inspect the
whole file, ask qemu-img, convert to raw if asked, verify, and rename into place.

The descendant of Nova's `fetch_to_raw`. The conversion to raw writes in the
conversion's own private folder and is placed only once verified. Any failure or cancel
removes `.part`, except a `.part` kept on purpose so that a broken, stalled or cancelled
download resumes.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from ..appliance.appliance import ApplianceReport, inspect_appliance
from ..cloud.glance import GlanceClient, GlanceImage, parse_image_url
from ..convert.job import ConvertJob, ConvertResult
from ..convert.plan import plan_conversion
from ..convert.request import ConvertRequest
from ..errors import Cancelled, DiskscopeError, SourceChanged, UnsafeImage
from ..formats import ImageFormat, format_from_extension, parse_format_name
from ..inspect.inspector import InspectionResult
from ..packed.convert import PackedConvertJob
from ..packed.probe import PackedFacts, unpacked_name
from ..packed.sink import InflatingSink
from ..packed.unpack import inflated, judge_headers
from ..placement import check_destination, free_space, place_file
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..progress import Progress, ProgressCallback
from ..qemu.qemu_img import QemuImg
from ..safety import ImageReport, inspect_image, require_safe
from .checksums import Checksum, parse_checksum
from .download import Download, DownloadRequest
from .http import HttpOptions, session_for
from .placing import check_download, place_download, remove_download
from .published import published_checksum
from .verification import DownloadResult, Expectation


@dataclass(frozen=True)
class FetchRequest:
    source: str  # an http(s) URL, a Glance image URL, or an image id or name
    destination: Path  # a file name, or an existing folder
    options: HttpOptions = field(default_factory=HttpOptions)
    endpoint: str | None = None  # Glance endpoint, for an id or name
    checksum: str | None = None  # ALGO:HEX from the user
    to_raw: bool = True  # Nova's force_raw_images
    overwrite: bool = False
    allow_unverified: bool = False
    retries: int = 4
    backoff: float = 0.5
    policy: InspectionPolicy = DEFAULT_POLICY  # the user's rules on top of the safety gate
    stall_timeout: float = 120.0  # seconds in which a download must make some progress
    # A published checksum file: at this URL, or looked for beside the image (a plain URL).
    checksums_url: str | None = None
    checksums_auto: bool = False
    keyring: Path | None = None  # verify the checksum file's GPG signature against it


@dataclass(frozen=True)
class FetchResult:
    destination: Path
    format: str  # what was delivered
    source_format: str  # what was downloaded
    virtual_size: int | None
    download: DownloadResult
    conversion: ConvertResult | None
    glance_image: GlanceImage | None
    duration: float
    packed: str | None = None  # the compression the download was decompressed from
    appliance: ApplianceReport | None = None  # an OVA, kept as downloaded

    def to_json(self) -> dict[str, object]:
        return {
            "destination": str(self.destination),
            "format": self.format,
            "source_format": self.source_format,
            "virtual_size": self.virtual_size,
            "downloaded_bytes": self.download.size,
            "resumed_from": self.download.resumed_from,
            "digests": self.download.digests,
            "verified_by": list(self.download.verified_by),
            "unverified": self.download.unverified,
            "converted": self.conversion is not None,
            "conversion": self.conversion.to_json() if self.conversion else None,
            "glance_image": self.glance_image.to_json() if self.glance_image else None,
            "duration": round(self.duration, 3),
            "decompressed_from": self.packed,
            "appliance": self.appliance.to_json() if self.appliance else None,
        }


@dataclass(frozen=True)
class _Source:
    url: str
    expect: Expectation
    name: str
    image: GlanceImage | None = None


class FetchJob:
    """One fetch, run once with `run()`; phases: downloading, verifying, inspecting,
    converting, verifying output."""

    def __init__(
        self,
        request: FetchRequest,
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        session: requests.Session | None = None,
        free_space: Callable[[Path], int] = free_space,
    ) -> None:
        self.request = request
        self.qemu = qemu
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.session = session or session_for(request.options)
        self.free_space = free_space
        self.download: Download | None = None

    def abort(self) -> None:
        """Cancel from another thread; a download blocked on the network stops at once."""
        self.cancel.set()
        if self.download is not None:
            self.download.abort()

    def _phase(self, name: str) -> None:
        if self.on_progress:
            self.on_progress(Progress(name, 0, None, None, None))

    def run(self) -> FetchResult:
        started = time.monotonic()
        source = self.resolve()
        destination = self._destination(source)
        check_destination(destination, self.request.overwrite)
        # A compressed download is decompressed in the same pass that hashes it.
        folder = destination.parent
        sink = InflatingSink(folder, self.request.policy, self.free_space(folder))
        try:
            self.download = Download(
                DownloadRequest(
                    source.url, destination, self.request.options, source.expect,
                    self.request.allow_unverified, self.request.retries, self.request.backoff,
                    self.request.stall_timeout,
                ),
                self.on_progress, self.cancel, self.free_space, self.session, sink,
            )  # fmt: skip
            download = self.download.run()
            return self._deliver(download, destination, source, sink, started)
        finally:
            sink.close()

    def _deliver(
        self,
        download: DownloadResult,
        destination: Path,
        source: _Source,
        sink: InflatingSink,
        started: float,
    ) -> FetchResult:
        finished = False
        try:
            self._phase("verifying")
            self._phase("inspecting")
            check_download(download)  # what is inspected is what was verified
            if source.expect.appliance:
                result = self._place_appliance(download, destination, source, started)
                finished = True
                return result
            judged = judge_headers(download.part, self.request.policy)
            if judged is not None:
                if sink.finish(download.part):
                    unpacked = self._inflated_already(download, destination, source, sink)
                else:
                    unpacked = self._unpack(download, destination, source, judged)
                finished = True
                return replace(unpacked, duration=time.monotonic() - started)
            report = inspect_image(
                download.part, self.qemu, source.expect.declared_format, self.request.policy
            )
            require_safe(report, "The downloaded image")
            conversion = None
            if self.request.to_raw and report.format.qemu_driver != "raw":
                conversion = self._convert(download, report, destination)
                remove_download(download)
                fmt = "raw"
            else:
                destination = self._kept_name(source, destination, report.format)
                place_download(download, destination, self.request.overwrite)
                fmt = report.format.value
            finished = True
        except Cancelled:
            raise Cancelled(f"The fetch was cancelled after the download; {download.part} was "
                            "removed.") from None  # fmt: skip
        finally:
            if not finished:
                remove_download(download)
        return FetchResult(
            destination=destination, format=fmt, source_format=report.format.value,
            virtual_size=report.virtual_size, download=download, conversion=conversion,
            glance_image=source.image, duration=time.monotonic() - started,
        )  # fmt: skip

    def _place_appliance(
        self, download: DownloadResult, destination: Path, source: _Source, started: float
    ) -> FetchResult:
        """An OVA, judged whole (its tar, descriptor, manifest and every disk in place) and kept
        as it is: its disks are converted with `diskscope convert`, one file each."""
        appliance = inspect_appliance(download.part, self.qemu, self.request.policy)
        refused = next((d for d in appliance.disks if d.report is not None and not d.report.safe), None)
        if refused is not None and refused.report is not None:
            raise UnsafeImage.refused(
                f"Disk {refused.index} of the downloaded appliance", refused.report.violations
            )
        place_download(download, destination, self.request.overwrite)
        return FetchResult(
            destination=destination, format="ova", source_format="ova",
            virtual_size=sum(d.virtual_size or 0 for d in appliance.disks),
            download=download, conversion=None, glance_image=source.image,
            duration=time.monotonic() - started, appliance=appliance.moved(destination),
        )  # fmt: skip

    def _convert(self, download: DownloadResult, report: ImageReport, destination: Path) -> ConvertResult:
        if self.cancel.is_set():
            raise Cancelled("The fetch was cancelled.")
        # The download is already verified by its checksums; the conversion gets the default
        # verification (structure and sampled data, not every byte), and reads only the very
        # file that was verified. It is planned from the report just made of that file (no
        # second inspection); the job re-checks only its identity.
        request = ConvertRequest(
            download.part, destination, "raw", overwrite=self.request.overwrite,
            policy=self.request.policy, expected_source=download.identity,
        )  # fmt: skip
        plan = plan_conversion(request, self.qemu, self.free_space, inspected=report)
        job = ConvertJob(request, self.qemu, self._forward, self.cancel, self.free_space, plan=plan)
        return job.run()

    def _inflated_already(
        self, download: DownloadResult, destination: Path, source: _Source, sink: InflatingSink
    ) -> FetchResult:
        """The image the download was decompressed into as it arrived: through the whole
        gate, then converted to raw (unless it is raw already) or kept as it is."""
        assert sink.private is not None and sink.packing is not None
        private, name = sink.private, sink.name
        report = require_safe(
            inspect_image(private.path(name), self.qemu, source.expect.declared_format, self.request.policy),
            "The image in the download",
        )
        conversion = None
        if self.request.to_raw and report.format.qemu_driver != "raw":
            request = ConvertRequest(
                Path(private.path(name)), destination, "raw", overwrite=self.request.overwrite,
                policy=self.request.policy,
            )  # fmt: skip
            conversion = ConvertJob(request, self.qemu, self._forward, self.cancel, self.free_space).run()
            conversion = replace(conversion, checks=(sink.check(), *conversion.checks))
        else:
            if not self.request.to_raw:
                destination = self._kept_name(source, destination, report.format)
            place_file(name, destination, self.request.overwrite, finished_dir_fd=private.fd,
                       destination_dir_fd=private.parent_fd)  # fmt: skip
        remove_download(download)
        fmt = "raw" if conversion else report.format.value
        return FetchResult(destination, fmt, report.format.value, report.virtual_size, download, conversion,
                           source.image, 0.0, sink.packing.value)  # fmt: skip

    def _unpack(
        self, download: DownloadResult, destination: Path, source: _Source,
        judged: tuple[PackedFacts, InspectionResult],
    ) -> FetchResult:  # fmt: skip
        """A compressed download (verified as published: compressed): the image inside,
        converted to raw, or kept in its own format, through the whole gate either way."""
        packing = judged[0].packing.value
        if self.request.to_raw:
            request = ConvertRequest(
                download.part, destination, "raw", overwrite=self.request.overwrite,
                policy=self.request.policy, expected_source=download.identity,
            )  # fmt: skip
            job = PackedConvertJob(request, self.qemu, self._forward, self.cancel, self.free_space)
            conversion = job.run()
            remove_download(download)
            return FetchResult(destination, "raw", judged[1].format.value, conversion.virtual_size,
                               download, conversion, source.image, 0.0, packing)  # fmt: skip
        if judged[0].identity != download.identity:
            raise SourceChanged(f"{download.part} is no longer the file that was verified; nothing was kept.")
        with inflated(download.part, judged, destination.parent, self.request.policy, self.free_space,
                      self._forward, self.cancel) as image:  # fmt: skip
            report = require_safe(
                inspect_image(image.path, self.qemu, source.expect.declared_format, self.request.policy),
                "The image in the download",
            )
            destination = self._kept_name(source, destination, report.format)
            place_file(image.name, destination, self.request.overwrite, finished_dir_fd=image.folder.fd,
                       destination_dir_fd=image.folder.parent_fd)  # fmt: skip
        remove_download(download)
        return FetchResult(destination, report.format.value, report.format.value, report.virtual_size,
                           download, None, source.image, 0.0, packing)  # fmt: skip

    def _forward(self, progress: Progress) -> None:
        if self.on_progress:
            self.on_progress(progress)

    # -- where from, where to -------------------------------------------------------------------

    def resolve(self) -> _Source:
        req = self.request
        user = (parse_checksum(req.checksum),) if req.checksum else ()
        glance_url = parse_image_url(req.source)
        if glance_url is not None:
            endpoint, image_id = glance_url
            client = GlanceClient(endpoint, req.options, self.session)
            return _glance_source(client, client.image(image_id), user)
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", req.source):
            path = urlsplit(req.source).path
            name = unquote(os.path.basename(path)) or "image"
            if req.checksums_url or req.checksums_auto:
                published = published_checksum(self.session, req.options, req.source, req.checksums_url,
                                               req.keyring)  # fmt: skip
                user = (*user, published)
            if names_an_ova(path):
                return _Source(req.source, Expectation(None, user, appliance=True), name)
            # `disk.qcow2.xz` is named (and declares its format) by what it holds.
            expect = Expectation(None, user, format_from_extension(unpacked_name(path)))
            return _Source(req.source, expect, unpacked_name(name))
        if not req.endpoint:
            raise DiskscopeError(
                f"{req.source!r} is not a URL; to fetch a Glance image by id or name, give the "
                "image service endpoint (or set OS_IMAGE_URL)."
            )
        client = GlanceClient(req.endpoint, req.options, self.session)
        return _glance_source(client, client.find(req.source), user)

    def _destination(self, source: _Source) -> Path:
        destination = Path(os.path.abspath(self.request.destination))
        if destination.is_dir():
            to_raw = self.request.to_raw and not source.expect.appliance  # an OVA is kept as it is
            name = file_name(source.name, to_raw, source.expect.declared_format)
            destination = destination / name
        return destination

    def _kept_name(self, source: _Source, destination: Path, found: ImageFormat) -> Path:
        """A download kept in its format and named by us gets that format's extension, now
        that the headers have told it (the `.part` was named before they could)."""
        if Path(os.path.abspath(self.request.destination)) == destination:
            return destination  # the user named the file
        return destination.with_name(file_name(source.name, False, found))


NAME_BYTES = 200  # NAME_MAX is 255 bytes: room for the suffixes partial files add (.part.meta, ...)

# Extensions that name a disk image; only these are ever cut from a name (a version number
# like `cirros-0.6.2` or `ubuntu-24.04-cloud` is part of the name, not an extension).
IMAGE_EXTENSIONS = (".qcow2", ".qcow", ".qed", ".img", ".raw", ".vmdk", ".vhd", ".vhdx", ".vdi",
                    ".iso", ".luks", ".bin", ".disk", ".hdd", ".dmg")  # fmt: skip
USUAL_EXTENSION = {ImageFormat.RAW: ".raw", ImageFormat.QCOW2: ".qcow2", ImageFormat.QCOW: ".qcow",
                   ImageFormat.QED: ".qed", ImageFormat.VMDK: ".vmdk", ImageFormat.VPC: ".vhd",
                   ImageFormat.VHDX: ".vhdx", ImageFormat.VDI: ".vdi", ImageFormat.ISO: ".iso",
                   ImageFormat.LUKS: ".luks", ImageFormat.GPT: ".raw", ImageFormat.MBR: ".raw",
                   ImageFormat.DMG: ".dmg"}  # fmt: skip


def file_name(name: str, to_raw: bool, fmt: ImageFormat | None = None) -> str:
    """A file name from a name the server chose: letters, digits and `_.+-` only, no leading
    dot or dash, at most NAME_BYTES bytes of UTF-8.

    Only a known image extension is cut; then `.raw` if converted, else the usual extension
    of `fmt` (the format found in the headers, or Glance's disk_format). A name that already
    ends in `.img` keeps it when the format is kept: cloud images of every format use it.
    With no format known yet, a kept image keeps its own extension (or none)."""
    name = re.sub(r"[^\w.+-]", "_", name).lstrip(".-") or "image"
    stem, extension = os.path.splitext(name)
    if extension.lower() not in IMAGE_EXTENSIONS:
        stem, extension = name, ""
    if to_raw:
        extension = ".raw"
    elif fmt is not None and extension.lower() != ".img":
        extension = USUAL_EXTENSION.get(fmt, extension)
    room = NAME_BYTES - len(extension.encode())
    stem = stem.encode()[:room].decode(errors="ignore") or "image"
    return stem + extension


def names_an_ova(url_path: str) -> bool:
    """An `.ova` URL: fetched as an appliance and kept as it is (core/appliance/)."""
    return url_path.lower().endswith(".ova")


def suggested_name(source: str, to_raw: bool, disk_format: str | None = None) -> str:
    """The file name a fetch into a folder gives `source` (a URL, or a Glance image's name
    with its `disk_format`), to show before the download starts. For a kept format that
    only the headers can tell, the fetch decides the extension once it has read them."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", source):
        path = unpacked_name(urlsplit(source).path.rstrip("/"))  # what a .xz holds is kept
        source = unquote(os.path.basename(path)) or "image"
        fmt = format_from_extension(path)
        to_raw = to_raw and not names_an_ova(path)  # an OVA is kept as it is
    else:
        fmt = None
    if disk_format:
        with contextlib.suppress(ValueError):  # the fetch refuses it with a sentence
            fmt = parse_format_name(disk_format)
    return file_name(source, to_raw, fmt)


def _glance_source(client: GlanceClient, image: GlanceImage, user: tuple[Checksum, ...]) -> _Source:
    if image.status != "active":
        raise DiskscopeError(f"The Glance image {image.id} is {image.status}, not active.")
    if image.container_format not in (None, "bare"):
        raise DiskscopeError(f"The Glance image {image.id} is a {image.container_format} "
                             "container, not a bare disk image.")  # fmt: skip
    checksums = list(user)
    if image.os_hash_algo and image.os_hash_value:
        checksums.append(parse_checksum(f"{image.os_hash_algo}:{image.os_hash_value}",
                                        "Glance os_hash_value"))  # fmt: skip
    if image.checksum:
        checksums.append(parse_checksum(f"md5:{image.checksum}", "Glance checksum"))
    expect = Expectation(image.size, tuple(checksums), _declared_format(image))
    return _Source(client.file_url(image), expect, image.name or image.id, image)


def _declared_format(image: GlanceImage) -> ImageFormat:
    """Glance's disk_format, which the content must match. Like Nova, refuse before the
    download a format that nothing can check the content against."""
    if not image.disk_format:
        raise DiskscopeError(f"The Glance image {image.id} has no disk_format, so its content "
                             "cannot be checked against it; it was not downloaded.")  # fmt: skip
    try:
        return parse_format_name(image.disk_format)
    except ValueError:
        raise DiskscopeError(f"The Glance image {image.id} has the disk_format "
                             f"{image.disk_format!r}, which Diskscope does not know; it was "
                             "not downloaded.") from None  # fmt: skip
