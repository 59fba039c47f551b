"""The runner owns the conversion's qemu-img process, and a conversion is planned once."""

from __future__ import annotations

import os
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.plan import plan_conversion
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.errors import Cancelled, QemuImgError, SourceChanged
from diskscope.core.qemu.commands import ConvertSpec
from diskscope.core.qemu.process import CONVERSION_LIMITS
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.safety import inspect_image
from imagekit import MiB, RecordingQemuImg, qemu_img, raw_file, write_pattern


def _source(folder: Path) -> Path:
    path = folder / "disk.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", path, "16M")
    write_pattern(path, "qcow2", 0, MiB)
    return path


def test_the_runners_convert_is_recorded_and_reports_progress(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 8 * MiB)
    target = tmp_path / "t.qcow2"
    spec = ConvertSpec(str(source), "raw", str(target), "qcow2")
    qemu, seen = RecordingQemuImg(), []
    qemu.convert(spec, CONVERSION_LIMITS, seen.append, threading.Event())
    assert [call[0] for call in qemu.calls] == ["convert"]
    assert qemu.calls[0] == tuple(qemu.convert_args(spec))
    assert seen and seen[-1] == 100.0
    qemu_img("compare", "-f", "raw", "-F", "qcow2", source, target)


def test_the_runners_convert_stops_on_cancel(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", 8 * MiB)
    spec = ConvertSpec(str(source), "raw", str(tmp_path / "t.qcow2"), "qcow2")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        QemuImg().convert(spec, CONVERSION_LIMITS, lambda _p: None, cancel)


def test_a_failed_convert_is_one_qemu_img_error(tmp_path: Path) -> None:
    source = tmp_path / "s.qcow2"
    source.write_bytes(b"not a qcow2 image at all".ljust(4096, b"\0"))
    spec = ConvertSpec(str(source), "qcow2", str(tmp_path / "t.raw"), "raw")
    with pytest.raises(QemuImgError) as caught:
        QemuImg().convert(spec, CONVERSION_LIMITS, lambda _p: None, threading.Event())
    assert str(caught.value).startswith("qemu-img convert failed: ")
    assert caught.value.returncode == 1 and caught.value.stderr


def test_a_plan_is_used_not_made_again(tmp_path: Path) -> None:
    source = _source(tmp_path)
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2")
    qemu = RecordingQemuImg()
    plan = plan_conversion(request, qemu)
    ConvertJob(request, qemu, plan=plan).run()
    assert qemu.calls_opening(source) == {"info": 1, "map": 1, "measure": 1, "convert": 1}
    qemu_img("compare", "-f", "qcow2", "-F", "qcow2", source, tmp_path / "out.qcow2")


def test_a_job_without_a_plan_plans_once(tmp_path: Path) -> None:
    source = _source(tmp_path)
    qemu = RecordingQemuImg()
    ConvertJob(ConvertRequest(source, tmp_path / "out.qcow2", "qcow2"), qemu).run()
    assert qemu.calls_opening(source) == {"info": 1, "map": 1, "measure": 1, "convert": 1}


def test_a_callers_report_plans_only_the_file_it_was_made_of(tmp_path: Path) -> None:
    """fetch-to-raw plans from its own report: used as it is, and only for a source that
    still has the identity it had before that report was made."""
    source = _source(tmp_path)
    st = os.stat(source)
    qemu = RecordingQemuImg()
    report = inspect_image(source, qemu)
    request = ConvertRequest(source, tmp_path / "out.raw", "raw",
                             expected_source=(st.st_dev, st.st_ino, st.st_ctime_ns))  # fmt: skip
    plan = plan_conversion(request, qemu, inspected=report)
    assert plan.source is report
    assert qemu.calls_opening(source) == {"info": 1, "map": 1}  # the caller's info, and the map
    with pytest.raises(ValueError):
        plan_conversion(replace(request, expected_source=None), qemu, inspected=report)
    other = tmp_path / "zz.qcow2"  # sorts after the source: only "the same file" may pass
    qemu_img("create", "-q", "-f", "qcow2", other, "16M")
    with pytest.raises(ValueError):
        plan_conversion(request, qemu, inspected=inspect_image(other, qemu))
    os.chmod(source, 0o600)  # a change of state only st_ctime_ns records
    with pytest.raises(SourceChanged):
        plan_conversion(request, qemu, inspected=report)


def test_an_empty_disk_needs_no_map(tmp_path: Path) -> None:
    source = tmp_path / "empty.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", source, "0")
    qemu = RecordingQemuImg()
    plan = plan_conversion(ConvertRequest(source, tmp_path / "out.raw", "raw"), qemu)
    assert (plan.data_bytes, plan.required) == (0, 0)
    assert "map" not in qemu.calls_opening(source)


def test_a_plan_whose_source_changed_since_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path)
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2")
    qemu = RecordingQemuImg()
    plan = plan_conversion(request, qemu)
    os.chmod(source, 0o600)  # a change of state only st_ctime_ns records
    with pytest.raises(SourceChanged):
        ConvertJob(request, qemu, plan=plan).run()
    assert "convert" not in qemu.calls_opening(source)
    assert not (tmp_path / "out.qcow2").exists()


def test_a_plan_for_another_request_is_not_taken(tmp_path: Path) -> None:
    source = _source(tmp_path)
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2")
    plan = plan_conversion(request, QemuImg())
    other = ConvertRequest(source, tmp_path / "other.qcow2", "qcow2")
    with pytest.raises(ValueError, match="another request"):
        ConvertJob(other, QemuImg(), plan=plan)
