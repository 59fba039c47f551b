"""Conversion: `ConvertJob` with pre-flight checks, live progress, a Cancel that cleans
up, and verified output renamed into place only at the end.

The window runs the same job in a worker thread: progress comes through a
callback, cancel through a `threading.Event`, and the job ends in exactly one
result or one exception.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..chain import ChainLayer, LayerStatus, chain_is_sound, walk_backing_chain
from ..errors import (  # noqa: F401  (the old names: tests import them from here)
    Cancelled,
    ConversionStalled,
    DestinationChanged,
    DestinationExists,
    DiskscopeError,
    MeasureUnsupported,
    NotEnoughSpace,
    QemuImgError,
    SourceChanged,
    UnsafeImage,
    VerificationFailed,
)
from ..formats import ImageFormat
from ..inspect.inspector import check_regular_file, inspect_file
from ..inspect.verdict import ViolationCode
from ..placement import (
    PrivateFolder,
    check_destination,
    free_space,
    place_file,
)
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..progress import ProgressCallback, ProgressMeter
from ..qemu.byte_range import FileRange, source_path
from ..qemu.qemu_img import CONVERSION_LIMITS, ConvertSpec, Limits, QemuImg
from ..safety import ImageReport, inspect_image, inspect_member, require_safe
from ..sizes import human_size
from .presets import PRESETS

logger = logging.getLogger(__name__)

TARGETS = ("raw", "qcow2", "vmdk", "vpc", "vhdx", "vdi")
SUBFORMATS = {
    "vmdk": ("monolithicSparse", "streamOptimized"),
    "vpc": ("dynamic", "fixed"),
    "vhdx": ("dynamic", "fixed"),
}
# `-o` keys a user may pass through. Never backing_file, data_file or encryption keys.
ALLOWED_OPTIONS = frozenset(
    {
        "compat", "cluster_size", "preallocation", "lazy_refcounts", "refcount_bits",
        "compression_type", "extended_l2", "subformat", "adapter_type", "hwversion",
        "toolsversion", "zeroed_grain", "force_size", "static", "block_size",
        "log_size", "block_state_zero",
    }
)  # fmt: skip


_CANCELLED = "The conversion was cancelled; its partial output was removed."


@dataclass(frozen=True)
class FileIdentity:
    """Which file, and in what state: st_ctime_ns changes on every write, rename or chmod,
    and unlike st_mtime_ns no `utime` can put it back."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


@dataclass(frozen=True)
class ConvertRequest:
    source: Path
    destination: Path
    target: str
    subformat: str | None = None
    compression: str | None = None  # qcow2 only: "zlib" or "zstd"
    preallocation: str | None = None
    cluster_size: int | None = None
    compat: str | None = None
    extra_options: tuple[str, ...] = ()  # KEY=VALUE, checked against ALLOWED_OPTIONS
    overwrite: bool = False
    compare: bool | None = None  # qemu-img compare; None: on for raw targets
    allow_owned_backing: bool = False  # convert (and flatten) a chain the user owns
    round_to: int | None = None
    cache: str | None = None  # target cache mode; None: `none` where O_DIRECT works
    source_cache: str = "writeback"
    coroutines: int = 8
    rate_limit: int | None = None
    preset: str | None = None
    stall_timeout: float | None = 300.0  # seconds without progress or I/O; None: wait forever
    policy: InspectionPolicy = DEFAULT_POLICY  # the user's rules, for every layer
    # (st_dev, st_ino, st_ctime_ns) the source must have: a verified download is converted
    # only while it is still the file that was verified.
    expected_source: tuple[int, int, int] | None = None
    # A disk inside an OVA: these bytes of `source`, read in place (core/appliance/).
    member: FileRange | None = None
    declared: ImageFormat | None = None  # the format the source must be (an OVF's ovf:format)

    @classmethod
    def from_preset(cls, name: str, source: Path, destination: Path, **kw: object) -> ConvertRequest:
        """A request for a preset; keyword arguments that are not None override it."""
        try:
            preset = PRESETS[name]
        except KeyError:
            known = ", ".join(sorted(PRESETS))
            raise DiskscopeError(f"There is no preset {name!r}; known presets: {known}.") from None
        fields: dict[str, object] = {
            "subformat": preset.subformat,
            "extra_options": preset.options,
            "round_to": preset.round_to,
            "preset": name,
        }
        fields.update({k: v for k, v in kw.items() if v is not None})
        return cls(source, destination, preset.target, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ConvertPlan:
    """What a conversion will do, known before it starts (the dialog shows it)."""

    request: ConvertRequest
    source: ImageReport
    spec: ConvertSpec
    required: int  # bytes the output needs
    free: int  # bytes free where it goes
    data_bytes: int | None  # allocated guest data, when known
    virtual_size: int  # of the output
    source_identity: tuple[FileIdentity, ...]  # the source and its backing layers, before inspection

    @property
    def fits(self) -> bool:
        return self.required <= self.free

    @property
    def destination(self) -> Path:
        return Path(os.path.abspath(self.request.destination))


@dataclass(frozen=True)
class ConvertResult:
    output: Path
    format: str
    subformat: str | None
    virtual_size: int
    disk_usage: int  # bytes allocated on disk
    duration: float
    command: str
    checks: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, object]:
        return {
            "output": str(self.output),
            "format": self.format,
            "subformat": self.subformat,
            "virtual_size": self.virtual_size,
            "disk_usage": self.disk_usage,
            "duration": round(self.duration, 3),
            "command": self.command,
            "checks": list(self.checks),
        }


def build_options(request: ConvertRequest) -> tuple[str, ...]:
    """The `-o` list for the target, checked: a bad key or value is a clear error."""
    target = request.target
    if target not in TARGETS:
        raise DiskscopeError(f"{target!r} is not a target format; choose one of {', '.join(TARGETS)}.")
    options: dict[str, str] = {}
    if request.subformat:
        if request.subformat not in SUBFORMATS.get(target, ()):
            raise DiskscopeError(f"{target} has no subformat {request.subformat!r}.")
        options["subformat"] = request.subformat
    if request.compression:
        if target != "qcow2" or request.compression not in ("zlib", "zstd"):
            raise DiskscopeError("Compression is available for qcow2 only, as zlib or zstd.")
        options["compression_type"] = request.compression
    if request.preallocation:
        options["preallocation"] = request.preallocation
    if request.cluster_size:
        options["cluster_size"] = str(request.cluster_size)
    if request.compat:
        options["compat"] = request.compat
    if target == "vpc":
        options["force_size"] = "on"  # keep the exact size instead of CHS rounding
    for item in request.extra_options:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in ALLOWED_OPTIONS:
            raise DiskscopeError(f"The option {item!r} is not allowed; allowed keys: "
                                 f"{', '.join(sorted(ALLOWED_OPTIONS))}.")  # fmt: skip
        if "," in value or not value:
            raise DiskscopeError(f"The option {item!r} has an invalid value.")
        options[key] = value
    return tuple(f"{k}={v}" for k, v in options.items())


def file_identity(path: str | os.PathLike[str]) -> FileIdentity:
    """The identity and state of a file: a replaced, truncated or rewritten source changes it."""
    try:
        st = os.stat(path)
    except OSError:
        raise SourceChanged("The source file disappeared during the conversion.") from None
    return FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def settled_identity(path: str | os.PathLike[str]) -> FileIdentity:
    """The identity, taken once the clock has moved past the file's last change.

    Timestamps come from a coarse clock (one tick, or a whole second on filesystems that
    store seconds only): a write in the same tick as the last one would keep st_ctime_ns.
    Waiting until the clock has passed the tick makes any later write visible. A ctime
    in the future (a clock that was ahead) could be matched by a write once the clock gets
    there, so such a file is refused.
    """
    for _ in range(3):
        identity = file_identity(path)
        grain = 2_000_000_000 if identity.ctime_ns % 1_000_000_000 == 0 else 50_000_000
        wait = identity.ctime_ns + grain - time.time_ns()
        if wait <= 0:
            return identity
        if wait > 2 * grain:
            raise SourceChanged("The source file was last changed in the future by this system's clock; "
                                "fix the clock or touch the file, then convert it again.")  # fmt: skip
        time.sleep(wait / 1e9)
        if file_identity(path) == identity:
            return identity
    raise SourceChanged("The source file is still being written; convert it once it is finished.")


def supports_direct_io(folder: Path) -> bool:
    """Whether files in `folder` can be opened with O_DIRECT (tmpfs cannot). The probe is an
    unnamed O_TMPFILE, so that it never creates or unlinks a name in a shared folder."""
    if not hasattr(os, "O_TMPFILE") or not hasattr(os, "O_DIRECT"):
        return False
    try:
        os.close(os.open(folder, os.O_WRONLY | os.O_TMPFILE | os.O_DIRECT, 0o600))
    except OSError:
        return False
    return True


def plan_conversion(
    request: ConvertRequest,
    qemu: QemuImg,
    free_space: Callable[[Path], int] = free_space,
) -> ConvertPlan:
    """Every check that can be made before qemu-img writes a byte."""
    source = Path(os.path.abspath(request.source))
    destination = Path(os.path.abspath(request.destination))
    options = build_options(request)
    target = str(check_regular_file(os.path.realpath(source)))  # one sentence if it is not there
    before = settled_identity(target)  # taken before inspection: see ConvertJob.run
    if request.expected_source not in (None, (before.device, before.inode, before.ctime_ns)):
        raise SourceChanged(f"{source} is no longer the file that was verified; nothing was converted.")
    image: str | FileRange = target
    chain: Chain = ()
    layer_identities: tuple[FileIdentity, ...] = ()
    if request.member is not None:
        image = replace(request.member, path=target)
        report = require_safe(inspect_member(image, qemu, request.declared, request.policy), str(source))
    else:
        report, chain, layer_identities = _gate(source, qemu, request)
    folder = destination.parent
    if not folder.is_dir():
        raise DiskscopeError(f"The destination folder {folder} does not exist.")
    if os.path.isfile(destination) and os.path.samefile(destination, source):
        raise DiskscopeError("The destination is the source itself.")
    check_destination(destination, request.overwrite)
    fmt = report.format.qemu_driver
    virtual = report.virtual_size or 0
    if request.round_to:
        virtual = -(-virtual // request.round_to) * request.round_to
    data_bytes = _data_bytes(qemu, image, fmt, virtual, chain)
    required = _required(qemu, request, image, fmt, options, data_bytes, virtual, chain)
    free = free_space(folder)
    if required > free:
        raise NotEnoughSpace(
            f"The conversion needs {human_size(required)} ({required:,} bytes) but only "
            f"{human_size(free)} ({free:,} bytes) is free in {folder}."
        )
    compress = request.compression is not None
    cache = request.cache or ("none" if supports_direct_io(folder) else "writeback")
    spec = ConvertSpec(
        source=image,
        source_format=fmt,
        target=str(folder / ".diskscope-XXXXXXXX" / _part_name(destination)),  # made by run()
        target_format=request.target,
        options=options,
        compress=compress,
        no_create=bool(request.round_to and virtual != report.virtual_size),
        cache=cache,
        source_cache=request.source_cache,
        coroutines=request.coroutines,
        out_of_order=request.target in ("raw", "qcow2") and not compress,
        rate_limit=request.rate_limit,
        source_chain=chain,
    )
    identities = (before, *layer_identities)
    return ConvertPlan(request, report, spec, required, free, data_bytes, virtual, identities)


def _part_name(destination: Path) -> str:
    return destination.name + ".part"


def _required(
    qemu: QemuImg,
    request: ConvertRequest,
    path: str | FileRange,
    fmt: str,
    options: tuple[str, ...],
    data_bytes: int | None,
    virtual: int,
    chain: tuple[tuple[str, str], ...],
) -> int:
    """Bytes the output will take: `measure` where qemu-img can, an upper estimate elsewhere."""
    sparse = request.preallocation in (None, "off") and request.subformat != "fixed"
    if request.target == "raw" and sparse and data_bytes is not None:
        return data_bytes  # raw output stays sparse: only the data takes space
    with contextlib.suppress(MeasureUnsupported):
        return qemu.measure(path, fmt, request.target, options, chain).required
    # vpc, vhdx and vdi: the data (or the whole disk when fixed) plus metadata room.
    payload = data_bytes if sparse and data_bytes is not None else virtual
    return payload + payload // 64 + (8 << 20)


Chain = tuple[tuple[str, str], ...]


def _gate(
    source: Path, qemu: QemuImg, request: ConvertRequest
) -> tuple[ImageReport, Chain, tuple[FileIdentity, ...]]:
    """The inspected source; with an owned chain, also its backing layers (path, format) and
    their identities, taken before the inspection that is used (the walk runs twice)."""
    policy = request.policy
    report = inspect_image(source, qemu, request.declared, policy=policy)
    if report.safe:
        return report, (), ()
    only_backing = all(v.code == ViolationCode.BACKING_FILE for v in report.violations)
    if not (request.allow_owned_backing and only_backing):
        require_safe(report, str(source))
    first = _sound_chain(walk_backing_chain(source, qemu, policy, top=report))
    identities = tuple(settled_identity(os.path.realpath(layer.path)) for layer in first[1:])
    layers = _sound_chain(walk_backing_chain(source, qemu, policy))
    if [layer.path for layer in layers] != [layer.path for layer in first]:
        raise SourceChanged("The backing chain changed while it was inspected; convert it again.")
    chain = tuple((os.path.realpath(layer.path), _driver(layer)) for layer in layers[1:])
    return replace(report, info=layers[0].info, violations=()), chain, identities


def _sound_chain(layers: list[ChainLayer]) -> list[ChainLayer]:
    if chain_is_sound(layers):
        return layers
    bad = next(layer for layer in layers if layer.status != LayerStatus.OK)
    raise UnsafeImage(f"The backing chain cannot be used: {bad.path}: {bad.message}")


def _driver(layer: ChainLayer) -> str:
    assert layer.format is not None  # a sound layer was inspected
    return layer.format.qemu_driver


def _data_bytes(qemu: QemuImg, path: str | FileRange, fmt: str, size: int, chain: Chain) -> int | None:
    """Allocated guest data, from a bounded map; None when the map is too fragmented."""
    if size == 0:
        return 0
    try:
        extents = qemu.map(path, fmt, max_length=size, max_extents=100_000, chain=chain)
    except QemuImgError:
        return None
    if sum(e.length for e in extents) < size:
        return None
    return sum(e.length for e in extents if e.data)


class ConvertJob:
    """One conversion, run once with `run()`."""

    def __init__(
        self,
        request: ConvertRequest,
        qemu: QemuImg,
        on_progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        free_space: Callable[[Path], int] = free_space,
        limits: Limits = CONVERSION_LIMITS,
        plan: ConvertPlan | None = None,
    ) -> None:
        """`plan`: one made already (the dialog shows it) for this very request; the job
        then uses it as it is, and only re-checks that the source is still the file that
        was inspected. Without one, `run()` plans first."""
        if plan is not None and plan.request != request:
            raise ValueError("The plan was made for another request.")
        self.request = request
        self.qemu = qemu
        self.limits = limits
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.free_space = free_space
        self._planned = plan
        self.plan: ConvertPlan | None = None

    def run(self) -> ConvertResult:
        started = time.monotonic()
        plan = self._planned
        if plan is None:
            plan = plan_conversion(self.request, self.qemu, self.free_space)
        else:
            self._check_source(plan)
        destination = plan.destination
        private = PrivateFolder(destination.parent)
        try:
            name = _part_name(destination)
            # What the user sees names the folder; what runs reaches it through our descriptor.
            self.plan = replace(plan, spec=replace(plan.spec, target=str(private.shown / name)))
            plan = replace(plan, spec=replace(plan.spec, target=private.path(name)))
            checks = self._produce(plan, private)
            place_file(name, destination, plan.request.overwrite, finished_dir_fd=private.fd,
                       destination_dir_fd=private.parent_fd)  # fmt: skip
        finally:
            private.remove()
        return ConvertResult(
            output=destination,
            format=plan.request.target,
            subformat=plan.request.subformat,
            virtual_size=plan.virtual_size,
            disk_usage=os.stat(destination).st_blocks * 512,
            duration=time.monotonic() - started,
            command=self.command_line(),
            checks=checks,
        )

    def _produce(self, plan: ConvertPlan, private: PrivateFolder) -> tuple[str, ...]:
        """Write and verify the partial file. The file qemu-img reads must be the one that
        was inspected, from before it starts until after the output was checked."""
        if plan.spec.no_create:
            self.qemu.create(plan.spec.target, plan.request.target, plan.virtual_size, plan.spec.options)
        self._check_source(plan)
        self._convert(plan)
        self._check_source(plan)
        self._check_folder(private)
        checks = self._verify(plan)
        self._check_source(plan)
        self._check_folder(private)
        return checks

    @staticmethod
    def _check_folder(private: PrivateFolder) -> None:
        if not private.intact():
            raise DestinationChanged(
                f"The folder {private.folder} was removed or replaced during the conversion."
            )

    @staticmethod
    def _check_source(plan: ConvertPlan) -> None:
        paths = (source_path(plan.spec.source), *(path for path, _ in plan.spec.source_chain))
        now = tuple(file_identity(path) for path in paths)
        if now != plan.source_identity:
            raise SourceChanged("The source file changed after it was inspected; convert it again.")

    def command_line(self) -> str:
        """The qemu-img command, shell-quoted, for the user to copy."""
        assert self.plan is not None
        return shlex.join(self.qemu.command(self.qemu.convert_args(self.plan.spec)))

    def _convert(self, plan: ConvertPlan) -> None:
        total = plan.data_bytes or plan.virtual_size
        meter = ProgressMeter("converting", total, self.on_progress)
        meter.update(0, force=True)

        def advanced(percent: float) -> None:
            meter.update(int(total * percent / 100))

        try:
            self.qemu.convert(plan.spec, self.limits, advanced, self.cancel, self.request.stall_timeout)
        except Cancelled:
            raise Cancelled(_CANCELLED) from None
        meter.update(total, force=True)

    def _verify(self, plan: ConvertPlan) -> tuple[str, ...]:
        meter = ProgressMeter("verifying output", None, self.on_progress)
        meter.update(0, force=True)
        part, target = Path(plan.spec.target), plan.request.target
        ours = inspect_file(part, ImageFormat(target) if target != "raw" else None)
        if not ours.safe or ours.format.qemu_driver != target:
            why = ours.violations[0].message if ours.violations else f"it reads as {ours.format}"
            raise VerificationFailed(f"The output failed our inspection: {why}")
        info = self.qemu.info(part, target)
        if info.format != target or info.virtual_size != plan.virtual_size:
            raise VerificationFailed(
                f"The output is {info.format} of {info.virtual_size:,} bytes, "
                f"expected {target} of {plan.virtual_size:,} bytes."
            )
        checks = [
            f"our inspector: {ours.format.value}, safe",
            f"qemu-img info: {info.format}, {info.virtual_size:,} bytes",
        ]
        compare = plan.request.compare
        if compare is None:
            compare = target == "raw"
        if compare:
            if self.cancel.is_set():
                raise Cancelled(_CANCELLED)
            spec = plan.spec
            same = self.qemu.compare(spec.source, spec.source_format, part, target, self.limits,
                                     first_chain=spec.source_chain)  # fmt: skip
            if not same:
                raise VerificationFailed("qemu-img compare found the output differs from the source.")
            checks.append("qemu-img compare: identical to the source")
        return tuple(checks)
