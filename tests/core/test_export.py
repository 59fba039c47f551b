"""Export writing lives in core (no Qt): the file's name picks JSON or Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from diskscope.core.qemu.qemu_img import QemuImg
from diskscope.core.report.details import gather_details
from diskscope.core.report.export import details_to_json, write_export
from imagekit import create


def test_json_and_markdown_by_name_and_a_missing_folder_raises(tmp_path: Path) -> None:
    details = gather_details(create(tmp_path / "e.qcow2", "qcow2", "64M"), QemuImg())
    write_export(tmp_path / "out.json", details)
    data = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert data == json.loads(json.dumps(details_to_json(details)))
    assert data["format"] == "qcow2" and data["safe"] is True
    write_export(tmp_path / "out.md", details)
    markdown = (tmp_path / "out.md").read_text(encoding="utf-8")
    assert markdown.startswith("# e.qcow2\n") and "**Safe to use**" in markdown
    with pytest.raises(FileNotFoundError):
        write_export(tmp_path / "missing" / "out.md", details)
    assert not (tmp_path / "missing").exists()
