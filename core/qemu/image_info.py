"""`ImageInfo`: what `qemu-img info` says about an image, as frozen dataclasses.

Built from the JSON shape of `qemu-img info --output=json` (7.x and 8.x+, which
added `children`); the human-text parser in `info_text` produces the same shape.
Unknown keys are kept in `extra` and in the raw `format_specific` mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

_TOP_KEYS = {
    "filename", "format", "virtual-size", "actual-size", "cluster-size", "dirty-flag",
    "encrypted", "backing-filename", "backing-filename-format", "full-backing-filename",
    "snapshots", "format-specific", "children", "backing-image",
}  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    id: str
    name: str
    vm_state_size: int
    date_sec: int
    date_nsec: int = 0
    vm_clock_nsec: int = 0
    icount: int | None = None

    @property
    def date(self) -> datetime:
        return datetime.fromtimestamp(self.date_sec, UTC)

    @property
    def vm_clock(self) -> str:
        """HH:MM:SS.mmm as qemu prints it."""
        secs, nsec = divmod(self.vm_clock_nsec, 1_000_000_000)
        hours, rest = divmod(secs, 3600)
        return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}.{nsec // 1_000_000:03d}"


@dataclass(frozen=True)
class Bitmap:
    name: str
    granularity: int
    flags: tuple[str, ...]


@dataclass(frozen=True)
class Qcow2Specific:
    compat: str
    lazy_refcounts: bool | None = None
    corrupt: bool | None = None
    refcount_bits: int | None = None
    compression_type: str | None = None
    extended_l2: bool | None = None
    data_file: str | None = None
    data_file_raw: bool | None = None
    bitmaps: tuple[Bitmap, ...] = ()
    encrypt: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class VmdkExtent:
    filename: str
    format: str
    virtual_size: int
    cluster_size: int | None = None
    compressed: bool | None = None


@dataclass(frozen=True)
class VmdkSpecific:
    create_type: str
    cid: int | None = None
    parent_cid: int | None = None
    extents: tuple[VmdkExtent, ...] = ()


@dataclass(frozen=True)
class LuksSpecific:
    cipher_alg: str | None = None
    cipher_mode: str | None = None
    hash_alg: str | None = None
    payload_offset: int | None = None
    active_slots: tuple[int, ...] = ()


@dataclass(frozen=True)
class ChildNode:
    name: str
    info: ImageInfo


@dataclass(frozen=True)
class ImageInfo:
    filename: str
    format: str
    virtual_size: int
    actual_size: int | None = None
    cluster_size: int | None = None
    dirty: bool = False
    encrypted: bool = False
    backing_filename: str | None = None
    backing_format: str | None = None
    full_backing_filename: str | None = None
    snapshots: tuple[Snapshot, ...] = ()
    format_specific_type: str | None = None
    format_specific: Mapping[str, Any] = field(default_factory=dict)
    qcow2: Qcow2Specific | None = None
    vmdk: VmdkSpecific | None = None
    luks: LuksSpecific | None = None
    children: tuple[ChildNode, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def data_file(self) -> str | None:
        return self.qcow2.data_file if self.qcow2 else None


def parse_info_json(data: Any) -> ImageInfo:
    """ImageInfo from decoded `qemu-img info --output=json`; ValueError on anything else."""
    if isinstance(data, list):  # --backing-chain gives a list; the first is the image
        if not data:
            raise ValueError("qemu-img info output is an empty list.")
        data = data[0]
    try:
        return _image(_mapping(data, "qemu-img info output"))
    except RecursionError:
        raise ValueError("qemu-img info output is nested too deeply.") from None


def _image(d: Mapping[str, Any]) -> ImageInfo:
    spec = _opt_mapping(d.get("format-specific"), "format-specific")
    spec_type = _opt(spec.get("type"), str, "format-specific type") if spec else None
    spec_data = _opt_mapping(spec.get("data"), "format-specific data") if spec else {}
    return ImageInfo(
        filename=_req(d, "filename", str),
        format=_req(d, "format", str),
        virtual_size=_size(_req(d, "virtual-size", int), "virtual-size"),
        actual_size=_opt_size(d.get("actual-size"), "actual-size"),
        cluster_size=_opt_size(d.get("cluster-size"), "cluster-size"),
        dirty=bool(_opt(d.get("dirty-flag"), bool, "dirty-flag")),
        encrypted=bool(_opt(d.get("encrypted"), bool, "encrypted")),
        backing_filename=_opt(d.get("backing-filename"), str, "backing-filename"),
        backing_format=_opt(d.get("backing-filename-format"), str, "backing-filename-format"),
        full_backing_filename=_opt(d.get("full-backing-filename"), str, "full-backing-filename"),
        snapshots=tuple(_snapshot(s) for s in _list(d.get("snapshots"), "snapshots")),
        format_specific_type=spec_type,
        format_specific=spec_data,
        qcow2=_qcow2(spec_data) if spec_type == "qcow2" else None,
        vmdk=_vmdk(spec_data) if spec_type == "vmdk" else None,
        luks=_luks(spec_data) if spec_type == "luks" else None,
        children=tuple(_child(c) for c in _list(d.get("children"), "children")),
        extra={k: v for k, v in d.items() if k not in _TOP_KEYS},
        raw=d,
    )


def _snapshot(raw: Any) -> Snapshot:
    s = _mapping(raw, "snapshot")
    return Snapshot(
        id=str(_req(s, "id", (str, int))),
        name=_req(s, "name", str),
        vm_state_size=_size(_req(s, "vm-state-size", int), "vm-state-size"),
        date_sec=_req(s, "date-sec", int),
        date_nsec=_opt(s.get("date-nsec"), int, "date-nsec") or 0,
        vm_clock_nsec=(_opt(s.get("vm-clock-sec"), int, "vm-clock-sec") or 0) * 1_000_000_000
        + (_opt(s.get("vm-clock-nsec"), int, "vm-clock-nsec") or 0),
        icount=_opt(s.get("icount"), int, "icount"),
    )


def _qcow2(d: Mapping[str, Any]) -> Qcow2Specific:
    return Qcow2Specific(
        compat=_req(d, "compat", str),
        lazy_refcounts=_opt(d.get("lazy-refcounts"), bool, "lazy-refcounts"),
        corrupt=_opt(d.get("corrupt"), bool, "corrupt"),
        refcount_bits=_opt(d.get("refcount-bits"), int, "refcount-bits"),
        compression_type=_opt(d.get("compression-type"), str, "compression-type"),
        extended_l2=_opt(d.get("extended-l2"), bool, "extended-l2"),
        data_file=_opt(d.get("data-file"), str, "data-file"),
        data_file_raw=_opt(d.get("data-file-raw"), bool, "data-file-raw"),
        bitmaps=tuple(_bitmap(b) for b in _list(d.get("bitmaps"), "bitmaps")),
        encrypt=_opt_mapping(d.get("encrypt"), "encrypt") or None,
    )


def _bitmap(raw: Any) -> Bitmap:
    b = _mapping(raw, "bitmap")
    flags = _list(b.get("flags"), "bitmap flags")
    return Bitmap(
        name=_req(b, "name", str),
        granularity=_req(b, "granularity", int),
        flags=tuple(_opt(f, str, "bitmap flag") or "" for f in flags),
    )


def _vmdk(d: Mapping[str, Any]) -> VmdkSpecific:
    return VmdkSpecific(
        create_type=_req(d, "create-type", str),
        cid=_opt(d.get("cid"), int, "cid"),
        parent_cid=_opt(d.get("parent-cid"), int, "parent-cid"),
        extents=tuple(_extent(e) for e in _list(d.get("extents"), "extents")),
    )


def _extent(raw: Any) -> VmdkExtent:
    e = _mapping(raw, "extent")
    return VmdkExtent(
        filename=_req(e, "filename", str),
        format=_opt(e.get("format"), str, "extent format") or "",
        virtual_size=_req(e, "virtual-size", int),
        cluster_size=_opt(e.get("cluster-size"), int, "extent cluster-size"),
        compressed=_opt(e.get("compressed"), bool, "extent compressed"),
    )


def _luks(d: Mapping[str, Any]) -> LuksSpecific:
    slots = [_mapping(s, "LUKS slot") for s in _list(d.get("slots"), "slots")]
    return LuksSpecific(
        cipher_alg=_opt(d.get("cipher-alg"), str, "cipher-alg"),
        cipher_mode=_opt(d.get("cipher-mode"), str, "cipher-mode"),
        hash_alg=_opt(d.get("hash-alg"), str, "hash-alg"),
        payload_offset=_opt(d.get("payload-offset"), int, "payload-offset"),
        active_slots=tuple(i for i, s in enumerate(slots) if s.get("active") is True),
    )


def _child(raw: Any) -> ChildNode:
    c = _mapping(raw, "child node")
    return ChildNode(name=_req(c, "name", str), info=_image(_mapping(c.get("info"), "child info")))


def _req(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if d.get(key) is None:
        raise ValueError(f"qemu-img info output lacks {key!r}.")
    return _opt(d[key], kind, key)


def _opt(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if value is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise ValueError(f"qemu-img info field {name!r} has the wrong type.")
    if not isinstance(value, kinds):
        raise ValueError(f"qemu-img info field {name!r} has the wrong type.")
    return value


def _size(value: int, name: str) -> int:
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"qemu-img info field {name!r} is out of range.")
    return value


def _opt_size(value: Any, name: str) -> int | None:
    size = _opt(value, int, name)
    return None if size is None else _size(size, name)


def _mapping(value: Any, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"qemu-img info {name} is not an object.")
    return value


def _opt_mapping(value: Any, name: str) -> Mapping[str, Any]:
    return {} if value is None else _mapping(value, name)


def _list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"qemu-img info {name} is not a list.")
    return value
