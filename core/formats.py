"""Image formats as our inspector names them, and how they map onto qemu's drivers."""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePath


class ImageFormat(StrEnum):
    RAW = "raw"
    QCOW2 = "qcow2"
    QCOW = "qcow"
    QED = "qed"
    VMDK = "vmdk"
    VPC = "vpc"
    VHDX = "vhdx"
    VDI = "vdi"
    LUKS = "luks"
    ISO = "iso"
    GPT = "gpt"
    MBR = "mbr"
    PARALLELS = "parallels"
    BOCHS = "bochs"
    CLOOP = "cloop"
    DMG = "dmg"

    @property
    def qemu_driver(self) -> str:
        """The `-f` value qemu-img needs: ISO and partitioned disks are raw to qemu."""
        return "raw" if self in RAW_FAMILY else self.value

    @property
    def is_raw_family(self) -> bool:
        return self in RAW_FAMILY


# Formats qemu opens with its raw driver: they differ only in what the bytes hold.
RAW_FAMILY = frozenset({ImageFormat.RAW, ImageFormat.ISO, ImageFormat.GPT, ImageFormat.MBR})

# Only unambiguous extensions declare a format; `.img`, `.raw` and unknown ones do not.
_EXTENSIONS = {
    ".qcow2": ImageFormat.QCOW2,
    ".vmdk": ImageFormat.VMDK,
    ".vhdx": ImageFormat.VHDX,
    ".vhd": ImageFormat.VPC,
    ".vdi": ImageFormat.VDI,
    ".qed": ImageFormat.QED,
    ".iso": ImageFormat.ISO,
    ".luks": ImageFormat.LUKS,
}

# Names other tools use for our formats (Glance `disk_format`, qemu drivers).
_ALIASES = {
    "vhd": ImageFormat.VPC,
    "ami": ImageFormat.RAW,
    "ari": ImageFormat.RAW,
    "aki": ImageFormat.RAW,
    "ploop": ImageFormat.PARALLELS,
}


def format_from_extension(path: str | PurePath) -> ImageFormat | None:
    """The format a file name declares, or None when the extension proves nothing."""
    return _EXTENSIONS.get(PurePath(path).suffix.lower())


def parse_format_name(name: str) -> ImageFormat:
    """Our format for a name qemu, Glance or a user would write; ValueError if unknown."""
    key = name.strip().lower()
    if key in _ALIASES:
        return _ALIASES[key]
    try:
        return ImageFormat(key)
    except ValueError:
        raise ValueError(f"{name!r} is not a disk image format Diskscope knows.") from None


def same_driver(a: ImageFormat, b: ImageFormat) -> bool:
    """Whether content of one format passes for the other: qemu opens both with the same
    driver, and an ISO is only ever an ISO. Nova refuses an ISO registered as raw (and raw
    content registered as iso): a cloud attaches the one as a CD-ROM, the other as a disk."""
    if (a == ImageFormat.ISO) != (b == ImageFormat.ISO):
        return False
    return a.qemu_driver == b.qemu_driver
