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
}

# Where oslo.utils refuses a legitimate file.
OSLO_WRONG = {
    # Extended L2 (incompatible bit 4) is a documented qcow2 feature; oslo knows bits 0-3.
    "qcow2_extended_l2": "oslo calls extended L2 an unknown feature",
    # A fixed VHD keeps its only footer at the end; oslo reads it as raw, which a .vhd
    # name then contradicts.
    "vpc_fixed": "oslo cannot see a fixed VHD",
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
    elif not oslo_safe:
        assert not ours.safe, f"oslo refuses {case.name} but we pass it"
    elif case.name in STRICTER:
        assert not ours.safe, f"{case.name} is listed as stricter but we pass it"
    else:
        assert ours.safe, f"we refuse {case.name} and oslo does not: add it to STRICTER"


def test_the_stricter_list_names_real_cases() -> None:
    assert set(STRICTER) | set(OSLO_WRONG) <= set(CASE_IDS)
