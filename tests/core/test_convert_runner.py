"""The runner owns the conversion's qemu-img process, and a conversion is planned once."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest
from diskscope.core.convert.job import ConvertJob
from diskscope.core.convert.plan import plan_conversion
from diskscope.core.convert.request import ConvertRequest
from diskscope.core.errors import Cancelled, QemuImgError, SourceChanged
from diskscope.core.qemu.commands import ConvertSpec
from diskscope.core.qemu.process import CONVERSION_LIMITS
from diskscope.core.qemu.qemu_img import QemuImg
from imagekit import MiB, RecordingQemuImg, qemu_img, raw_file, write_pattern


def _source(folder: Path) -> Path:
    path = folder / "disk.qcow2"
    qemu_img("create", "-q", "-f", "qcow2", path, "16M")
    write_pattern(path, "qcow2", 0, MiB)
    return path


def _calls_naming(qemu: RecordingQemuImg, path: Path) -> Counter[str]:
    """How often each subcommand named `path` (plainly or inside a json: reference)."""
    return Counter(call[0] for call in qemu.calls if any(str(path) in arg for arg in call[1:]))


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
    assert _calls_naming(qemu, source) == {"info": 1, "map": 1, "measure": 1, "convert": 1}
    qemu_img("compare", "-f", "qcow2", "-F", "qcow2", source, tmp_path / "out.qcow2")


def test_a_job_without_a_plan_plans_once(tmp_path: Path) -> None:
    source = _source(tmp_path)
    qemu = RecordingQemuImg()
    ConvertJob(ConvertRequest(source, tmp_path / "out.qcow2", "qcow2"), qemu).run()
    assert _calls_naming(qemu, source) == {"info": 1, "map": 1, "measure": 1, "convert": 1}


def test_a_plan_whose_source_changed_since_is_refused(tmp_path: Path) -> None:
    source = _source(tmp_path)
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2")
    qemu = RecordingQemuImg()
    plan = plan_conversion(request, qemu)
    os.chmod(source, 0o600)  # a change of state only st_ctime_ns records
    with pytest.raises(SourceChanged):
        ConvertJob(request, qemu, plan=plan).run()
    assert "convert" not in _calls_naming(qemu, source)
    assert not (tmp_path / "out.qcow2").exists()


def test_a_plan_for_another_request_is_not_taken(tmp_path: Path) -> None:
    source = _source(tmp_path)
    request = ConvertRequest(source, tmp_path / "out.qcow2", "qcow2")
    plan = plan_conversion(request, QemuImg())
    other = ConvertRequest(source, tmp_path / "other.qcow2", "qcow2")
    with pytest.raises(ValueError, match="another request"):
        ConvertJob(other, QemuImg(), plan=plan)
