"""The one refusal gate (`require_safe`) and the one view of an image's facts."""

from __future__ import annotations

from pathlib import Path

import pytest
from diskscope.core.errors import UnsafeImage
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.safety import inspect_image, require_safe
from imagekit import MiB, create, qcow2_header_v2


def test_a_safe_report_passes_the_gate_unchanged(tmp_path: Path) -> None:
    report = inspect_image(create(tmp_path / "a.qcow2", "qcow2", "1M"), QemuImg())
    assert require_safe(report) is report


def test_a_refused_report_names_the_image_and_the_first_reason(tmp_path: Path) -> None:
    path = tmp_path / "b.qcow2"
    path.write_bytes(qcow2_header_v2(MiB, b"/etc/passwd").ljust(4096, b"\0"))
    report = inspect_image(path, QemuImg())
    with pytest.raises(UnsafeImage) as caught:
        require_safe(report)
    assert str(caught.value) == f"{report.path} was refused: {report.violations[0].message}"
    assert caught.value.violations == report.violations
    with pytest.raises(UnsafeImage, match=r"^The downloaded image was refused: "):
        require_safe(report, "The downloaded image")


def test_facts_are_qemu_imgs_when_it_opened_the_file(tmp_path: Path) -> None:
    report = inspect_image(create(tmp_path / "c.qcow2", "qcow2", "1M", "cluster_size=4096"), QemuImg())
    assert report.info is not None
    facts = report.facts
    assert facts.actual_size == report.info.actual_size is not None
    assert facts.size_on_disk == report.info.actual_size
    assert facts.cluster_size == 4096
    assert facts.format_specific == dict(report.info.format_specific)


def test_facts_are_the_inspectors_when_qemu_img_did_not_open_the_file(tmp_path: Path) -> None:
    path = tmp_path / "d.qcow2"
    path.write_bytes(qcow2_header_v2(3 * MiB, b"/etc/passwd", cluster_bits=12).ljust(4096, b"\0"))
    report = inspect_image(path, QemuImg())
    assert report.info is None
    facts = report.facts
    assert facts.actual_size is None
    assert facts.size_on_disk == 4096  # the file's own size
    assert facts.virtual_size == 3 * MiB
    assert facts.cluster_size == 4096
    assert facts.backing_file == "/etc/passwd"
    assert report.to_json()["backing_file"] == "/etc/passwd"
