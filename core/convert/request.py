"""What a user asks a conversion for: `ConvertRequest`, and its `-o` options checked
against the targets, subformats and option keys we allow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import DiskscopeError
from ..formats import ImageFormat
from ..policy import DEFAULT_POLICY, InspectionPolicy
from ..qemu.byte_range import FileRange
from .presets import PRESETS
from .verification import Verification

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
    verify: Verification = Verification.STRUCTURE  # FULL: also qemu-img compare, every byte
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
