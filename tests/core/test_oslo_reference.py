"""OpenStack's format inspector (oslo.utils) is the public reference: wherever it calls
an image unsafe, we must too. The cases where we are deliberately stricter are listed."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalogue import CASE_IDS, CASES, Case, build
from diskscope.core.formats import format_from_extension, parse_format_name, same_driver
from diskscope.core.inspect.inspector import inspect_file
from oslo_utils.imageutils import format_inspector

# Where oslo.utils passes a file that we refuse, and why we are right to.
STRICTER = {
    # 85 bytes: too short for oslo's 512-byte qcow2 region, so it calls the file raw.
    # qemu -f qcow2 would read the backing file name.
    "tiny_qcow2_with_backing": "oslo reads short files as raw",
    # oslo never reads past the first headers, so a trailing VHD footer goes unseen.
    "qcow2_with_vhd_footer": "oslo does not look at the end of the file",
    # oslo checks none of the header's table offsets or counts.
    "qcow2_huge_cluster_bits": "oslo does not check cluster bits",
    "qcow2_l1_past_end": "oslo does not check table offsets",
    "qcow2_too_many_snapshots": "oslo does not check the snapshot count",
    # oslo does not treat the corrupt bit as a safety matter.
    "qcow2_corrupt_bit": "oslo ignores the corrupt bit",
    # oslo's 512-byte regions are never complete, so it calls these raw.
    "qcow2_truncated": "oslo reads short files as raw",
    "vmdk_truncated": "oslo reads short files as raw",
    # oslo looks for `/` only; a relative name without one still opens another file.
    "vmdk_sparse_text_descriptor": "oslo accepts extent names without a slash",
    # oslo reads the VHD footer's first copy only and knows no differencing type.
    "vpc_differencing": "oslo does not read the VHD disk type",
    # oslo does not know the VHDX minimum size.
    "vhdx_truncated": "oslo accepts a VHDX cut short",
    # oslo checks the feature bit only; qemu also follows the data-file header extension.
    "qcow2_data_file_extension_only": "oslo ignores the data-file header extension",
    # qemu's probe skips comment lines whatever bytes they hold; oslo stops at a control byte.
    "vmdk_descriptor_control_byte": "oslo misses a descriptor with a control byte in a comment",
    # oslo does not read parentFileNameHint, which qemu turns into a backing file.
    "vmdk_parent_hint": "oslo ignores the VMDK parent link",
    # qemu 7.2 refuses a VHD whose footer checksum is wrong; oslo does not check it.
    "vpc_bad_checksum": "oslo does not check the VHD footer checksum",
    # A GPT signature with no room for the header: oslo reads the boot sector only.
    "gpt_signature_in_530_bytes": "oslo does not read the GPT header",
    # qemu's system emulators refuse the legacy AES encryption; oslo does not look at it.
    "qcow2_aes": "oslo ignores the qcow2 encryption method",
    # Not disk images at all. oslo calls all of these raw and safe; our verdict changed on
    # purpose (issue 11): a text file, an archive or a compressed image is never a disk a
    # user meant to boot, and each is refused with a sentence that says what it is.
    "raw_empty": "oslo calls an empty file a raw disk",
    "tiny_binary": "oslo calls a 37-byte file a raw disk",
    "text_passwd": "oslo calls text a raw disk",
    "text_sha256sums": "oslo calls text a raw disk",
    "text_ovf": "oslo calls an OVF descriptor a raw disk",
    "qcow2_xz": "oslo calls an xz file a raw disk",
    "qcow2_gzip": "oslo calls a gzip file a raw disk",
    "qcow2_bzip2": "oslo calls a bzip2 file a raw disk",
    "qcow2_zstd_file": "oslo calls a zstd file a raw disk",
    "qcow2_zip": "oslo calls a zip archive a raw disk",
    "ova_tar": "oslo calls a tar archive (an OVA) a raw disk",
}

# Where oslo.utils refuses a legitimate file.
OSLO_WRONG = {
    # Extended L2 (incompatible bit 4) is a documented qcow2 feature; oslo knows bits 0-3.
    "qcow2_extended_l2": "oslo calls extended L2 an unknown feature",
    # A fixed VHD keeps its only footer at the end; oslo reads it as raw, which a .vhd
    # name then contradicts.
    "vpc_fixed": "oslo cannot see a fixed VHD",
}

# Where oslo.utils refuses a partition table that qemu does not care about: qemu opens the
# disk as raw whatever its boot sector says, so we adopt oslo's checks as warnings only.
WARN_ONLY = {
    "gpt_protective_wrong_start": "oslo refuses a protective MBR entry that does not start at LBA 1",
    "mbr_bad_boot_flag": "oslo refuses an MBR entry with an invalid boot flag",
}


def oslo_verdict(path: Path) -> tuple[str | None, bool]:
    """(format oslo detects, whether oslo calls it safe)."""
    try:
        inspector = format_inspector.detect_file_format(str(path))
        if inspector is None:
            return None, False
        inspector.safety_check()
    except (format_inspector.ImageFormatError, format_inspector.SafetyCheckFailed):
        name = getattr(locals().get("inspector"), "NAME", None)
        return name, False
    declared = format_from_extension(path)
    detected = parse_format_name(inspector.NAME)
    safe = declared is None or same_driver(declared, detected)
    return inspector.NAME, safe


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_we_refuse_whatever_oslo_refuses(case: Case, tmp_path: Path) -> None:
    path = build(case, tmp_path)
    _name, oslo_safe = oslo_verdict(path)
    ours = inspect_file(path)
    if case.name in OSLO_WRONG:
        assert not oslo_safe and ours.safe, f"{case.name} is listed as oslo's mistake"
    elif case.name in WARN_ONLY:
        assert not oslo_safe and ours.safe and ours.warnings, f"{case.name} is listed as a warning"
    elif not oslo_safe:
        assert not ours.safe, f"oslo refuses {case.name} but we pass it"
    elif case.name in STRICTER:
        assert not ours.safe, f"{case.name} is listed as stricter but we pass it"
    else:
        assert ours.safe, f"we refuse {case.name} and oslo does not: add it to STRICTER"


def test_the_stricter_list_names_real_cases() -> None:
    assert set(STRICTER) | set(OSLO_WRONG) | set(WARN_ONLY) <= set(CASE_IDS)
