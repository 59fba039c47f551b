"""Safety violations: a machine code, one sentence, and what the admin can do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ViolationCode(StrEnum):
    BACKING_FILE = "backing_file"
    DATA_FILE = "data_file"
    UNKNOWN_FEATURES = "unknown_features"
    VMDK_CREATE_TYPE = "vmdk_create_type"
    VMDK_EXTENT = "vmdk_extent"
    VMDK_FOOTER = "vmdk_footer"
    TRUNCATED = "truncated"
    AMBIGUOUS_FORMAT = "ambiguous_format"
    FORMAT_MISMATCH = "format_mismatch"
    CORRUPT = "corrupt"
    IMPLAUSIBLE_HEADER = "implausible_header"
    BANNED_FORMAT = "banned_format"
    QEMU_DISAGREES = "qemu_disagrees"
    QEMU_FAILED = "qemu_failed"
    NOT_A_DISK_IMAGE = "not_a_disk_image"
    LEGACY_ENCRYPTION = "legacy_encryption"
    PARTITION_TABLE = "partition_table"
    POLICY = "policy"  # a rule of the user's own policy (core/policy.py), not of the gate


ADVICE: dict[ViolationCode, str] = {
    ViolationCode.POLICY: (
        "Your own policy does not accept this image; see Settings or the command's options."
    ),
    ViolationCode.BACKING_FILE: (
        "If you own the whole chain, flatten it with a conversion of the top layer you trust; "
        "never accept a backing file in an image from someone else."
    ),
    ViolationCode.DATA_FILE: (
        "An external data file can point at any file on this host; do not use this image."
    ),
    ViolationCode.UNKNOWN_FEATURES: (
        "The image needs qcow2 features we cannot vouch for; ask the sender for a plain image."
    ),
    ViolationCode.VMDK_CREATE_TYPE: (
        "Only single-file VMDKs (monolithicSparse, streamOptimized) are accepted; "
        "ask for one of those or for a qcow2/raw image."
    ),
    ViolationCode.VMDK_EXTENT: (
        "The descriptor names other files that qemu would open; do not use this image."
    ),
    ViolationCode.VMDK_FOOTER: "The footer contradicts the header; re-export the image.",
    ViolationCode.TRUNCATED: "The file is cut short; download or copy it again.",
    ViolationCode.AMBIGUOUS_FORMAT: ("The file reads as more than one format, a known trick; do not use it."),
    ViolationCode.FORMAT_MISMATCH: (
        "The content is not the format it claims to be; check where it came from, "
        "or rename it if only the extension is wrong."
    ),
    ViolationCode.CORRUPT: "Run an integrity check; restore the image from a good copy.",
    ViolationCode.IMPLAUSIBLE_HEADER: (
        "The header holds values no real image has; the file is damaged or crafted."
    ),
    ViolationCode.BANNED_FORMAT: (
        "Convert it to qcow2 or raw on a machine you trust, or ask for another format."
    ),
    ViolationCode.QEMU_DISAGREES: ("qemu-img reads the file differently from our inspector; do not use it."),
    ViolationCode.QEMU_FAILED: (
        "qemu-img could not read the image within its limits; the file is damaged or crafted."
    ),
    ViolationCode.NOT_A_DISK_IMAGE: (
        "Check that you picked the right file; unpack or decompress an archive first and "
        "inspect the disk image inside it."
    ),
    ViolationCode.LEGACY_ENCRYPTION: (
        "QEMU's emulators refuse the old qcow2 AES encryption; if you have the key, qemu-img "
        "can still convert the image to a plain or LUKS-encrypted qcow2."
    ),
    ViolationCode.PARTITION_TABLE: (
        "qemu opens the disk as raw whatever its partition table says; check the table with "
        "a partitioning tool before booting from it."
    ),
}


@dataclass(frozen=True)
class Violation:
    code: ViolationCode
    message: str

    @property
    def advice(self) -> str:
        return ADVICE[self.code]

    def to_json(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
