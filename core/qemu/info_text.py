"""Parser for the human-readable output of `qemu-img info`.

Admins paste this text from other hosts. It descends from Nova's `QemuImgInfo`,
fixed where that one went wrong: snapshot names with spaces or unicode, sizes
such as `64 MiB (67108864 bytes)` or `1.5G`, the `Format specific information:`
block, child nodes and encryption. It rebuilds the JSON shape and hands it to
`parse_info_json`, so both outputs give the same `ImageInfo`.

Snapshot dates are printed by qemu in the local time of the host that ran it;
we read them as local time here, which is right when the text was made here.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from .image_info import ImageInfo, parse_info_json

_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5, "E": 6}
# Older qemu-img printed 1000 to 1023 units in %g style: `1e+03 MiB`.
_HUMAN_SIZE = re.compile(r"^(\d+(?:\.\d+)?(?:e\+\d+)?)\s*([KMGTPE]?)(?:i?B)?$", re.I)
_EXACT_SIZE = re.compile(r"\((\d+) bytes\)\s*$")
_LINE = re.compile(r"^(?P<indent> *)(?P<key>[^:]+?):(?: (?P<value>.*))?$")
_SNAPSHOT = re.compile(
    r"^(?P<id>\S+)\s+(?P<name>.*?)\s+(?P<size>\d+(?:\.\d+)?\s*[KMGTPE]?(?:i?B)?)\s+"
    r"(?P<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s+"
    r"(?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d)\.(?P<ms>\d{3})(?:\s+(?P<icount>\S+))?\s*$",
    re.I,
)
_CHILD = re.compile(r"^Child node '/?(?P<name>[^']*)':$")
_STRING_KEYS = {"filename", "name", "data-file", "uuid", "format", "create-type", "compat"}
_TOP = {
    "image": "filename",
    "file format": "format",
    "protocol type": "format",  # qemu >= 8.0, for protocol child nodes
    "virtual size": "virtual-size",
    "file length": "virtual-size",
    "disk size": "actual-size",
    "cluster_size": "cluster-size",
    "backing file": "backing-filename",
    "backing file format": "backing-filename-format",
    "encrypted": "encrypted",
    "cleanly shut down": "dirty-flag",
}


def parse_size(text: str) -> int:
    """Bytes from qemu's human sizes: `64 MiB (67108864 bytes)`, `1.5 GiB`, `1.5G`, `0 B`."""
    exact = _EXACT_SIZE.search(text)
    if exact:
        return int(exact[1])
    match = _HUMAN_SIZE.match(text.strip())
    if not match:
        raise ValueError(f"{text.strip()!r} is not a size qemu-img would print.")
    return int(float(match[1]) * 1024 ** _UNITS[match[2].upper()])


def parse_info_text(text: str) -> ImageInfo:
    """ImageInfo from pasted `qemu-img info` text; ValueError with the reason otherwise."""
    if not isinstance(text, str):
        raise ValueError("qemu-img info text must be a string.")
    lines = [ln.rstrip("\r") for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("WARNING:", "qemu-img: warning"))]
    doc = _document(lines, 0)
    for needed in ("filename", "format", "virtual-size"):
        if needed not in doc:
            label = next(k for k, v in _TOP.items() if v == needed)
            raise ValueError(f"This is not qemu-img info output: it has no '{label}:' line.")
    return parse_info_json(doc)


def parse_pasted_info(text: str) -> ImageInfo:
    """What an admin pastes: the text output, or the --output=json one."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except ValueError as exc:
            raise ValueError(f"The pasted JSON is not valid: {exc}.") from None
        return parse_info_json(data)
    return parse_info_text(text)


def _document(lines: list[str], first_line: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        if line == "Snapshot list:":
            doc["snapshots"], i = _snapshots(lines, i + 1, first_line)
            continue
        if line == "Format specific information:":
            block, i = _indented(lines, i + 1)
            doc["format-specific"] = {"type": doc.get("format"), "data": _tree(block, 4)}
            continue
        child = _CHILD.match(line)
        if child:
            block, i = _indented(lines, i + 1)
            info = _document([ln[4:] for ln in block], first_line + i)
            doc.setdefault("children", []).append({"name": child["name"], "info": info})
            continue
        match = _LINE.match(line)
        if not match or match["indent"]:
            raise ValueError(f"Line {first_line + i + 1} is not qemu-img info output: {line!r}.")
        _top_field(doc, match["key"], match["value"] or "")
        i += 1
    return doc


def _top_field(doc: dict[str, Any], key: str, value: str) -> None:
    name = _TOP.get(key)
    if name is None:
        doc[key.replace(" ", "-")] = _scalar(key, value)
    elif name in ("virtual-size", "actual-size"):
        if value != "unavailable":
            doc[name] = parse_size(value)
    elif name == "cluster-size":
        doc[name] = _int(value, key)
    elif name == "encrypted":
        doc[name] = value == "yes"
    elif name == "dirty-flag":
        doc[name] = value == "no"
    elif name == "backing-filename":
        actual = re.search(r" \(actual path: (.*)\)$", value)
        doc[name] = value[: actual.start()] if actual else value
        doc["full-backing-filename"] = actual[1] if actual else value
    else:
        doc[name] = value


def _snapshots(lines: list[str], i: int, first_line: int) -> tuple[list[dict[str, Any]], int]:
    if i < len(lines) and lines[i].startswith("ID"):
        i += 1
    rows = []
    while i < len(lines):
        match = _SNAPSHOT.match(lines[i])
        if not match:
            break
        clock = int(match["h"]) * 3600 + int(match["m"]) * 60 + int(match["s"])
        date = time.mktime(time.strptime(match["date"], "%Y-%m-%d %H:%M:%S"))
        row: dict[str, Any] = {
            "id": match["id"],
            "name": match["name"],
            "vm-state-size": parse_size(match["size"]),
            "date-sec": int(date),
            "date-nsec": 0,
            "vm-clock-sec": clock,
            "vm-clock-nsec": int(match["ms"]) * 1_000_000,
        }
        if match["icount"] and match["icount"].isdigit():
            row["icount"] = int(match["icount"])
        rows.append(row)
        i += 1
    if not rows:
        raise ValueError(f"Line {first_line + i + 1}: the snapshot list has no readable rows.")
    return rows, i


def _indented(lines: list[str], i: int) -> tuple[list[str], int]:
    start = i
    while i < len(lines) and lines[i].startswith("    "):
        i += 1
    return lines[start:i], i


def _tree(block: list[str], indent: int) -> Any:
    """Nested `key: value` lines (lists as `[N]:`) at `indent` spaces, as JSON values."""
    result: dict[str, Any] = {}
    items: list[Any] = []
    i = 0
    while i < len(block):
        match = _LINE.match(block[i])
        if not match or len(match["indent"]) != indent:
            raise ValueError(f"Unexpected line in the format specific block: {block[i]!r}.")
        key, value = match["key"], match["value"]
        child_end = i + 1
        while child_end < len(block) and block[child_end].startswith(" " * (indent + 4)):
            child_end += 1
        children = block[i + 1 : child_end]
        node: Any = _tree(children, indent + 4) if children else _scalar(key, value or "")
        if re.fullmatch(r"\[\d+\]", key):
            items.append(node)
        else:
            result[key.replace(" ", "-")] = node
        i = child_end
    if items and result:
        raise ValueError("The format specific block mixes list items and fields.")
    return items if items else result


def _scalar(key: str, value: str) -> Any:
    name = key.replace(" ", "-")
    if value in ("true", "false"):
        return value == "true"
    if name not in _STRING_KEYS and re.fullmatch(r"-?\d+", value):
        return int(value)
    return value


def _int(value: str, key: str) -> int:
    if not value.isdigit():
        raise ValueError(f"The {key} value {value!r} is not a number.")
    return int(value)
