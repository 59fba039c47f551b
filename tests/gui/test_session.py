"""The window's session: open images, their checks and the batch's progress, kept apart
from the widgets."""

from __future__ import annotations

from pathlib import Path

from diskscope.core.fetch.sums import SumsCheck
from diskscope.core.qemu.results import CheckResult, CheckStatus
from diskscope.gui.models.image_list import EntryState, ImageEntry
from diskscope.gui.session import Session


def _ready(path: str) -> ImageEntry:
    return ImageEntry(path, Path(path).name, EntryState.READY)


def test_a_batch_counts_while_busy_and_starts_again_when_idle() -> None:
    session = Session()
    assert session.open(["/a", "/b"], runner_idle=True) == 0
    assert session.open(["/c"], runner_idle=False) == 2  # joins the running batch
    assert (session.batch_total, session.batch_done) == (3, 0)
    session.inspected(_ready("/a"))
    assert (session.batch_total, session.batch_done) == (3, 1)
    session.open(["/d"], runner_idle=True)
    assert (session.batch_total, session.batch_done) == (1, 0)
    assert [e.key for e in session.images.entries()] == ["/a", "/b", "/c", "/d"]


def test_a_result_for_a_closed_image_is_dropped_and_its_check_forgotten() -> None:
    session = Session()
    session.open(["/a", "/b"], runner_idle=True)
    session.checks["/a"] = CheckResult(CheckStatus.CLEAN, 0)
    session.close(0)
    assert "/a" not in session.checks
    assert session.inspected(_ready("/a")) == -1
    assert [e.key for e in session.images.entries()] == ["/b"]
    assert session.inspected(_ready("/b")) == 0
    assert session.images.entry(0).state == EntryState.READY


def test_reopening_forgets_the_check_and_a_stale_checksum_is_dropped() -> None:
    session = Session()
    session.open(["/a"], runner_idle=True)
    first = session.images.entry(0)
    session.checks["/a"] = CheckResult(CheckStatus.CLEAN, 0)
    session.open(["/a"], runner_idle=True)  # Refresh
    assert "/a" not in session.checks
    check = SumsCheck(Path("/SHA256SUMS"), "sha256", "00", "00")
    assert session.sums_checked("/a", object(), check) == -1  # for an older inspection
    assert session.sums_checked("/a", first.details, check) == 0
    assert session.images.entry(0).checksum == check


def test_pasted_entries_get_their_own_rows(tmp_path: Path) -> None:
    from diskscope.core.qemu.info_text import parse_pasted_info

    text = "image: disk.qcow2\nfile format: qcow2\nvirtual size: 1 MiB (1048576 bytes)\n"
    info = parse_pasted_info(text)
    session = Session()
    assert session.paste(info, text) == 0
    assert session.paste(info, text) == 1
    assert [e.name for e in session.images.entries()] == ["disk.qcow2 (pasted)"] * 2
    assert len({e.key for e in session.images.entries()}) == 2
