"""qemu-img command lines: every user image named by an absolute `json:` reference that
names the driver and the file and cuts off any backing file, every format explicit."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidPath
from ..text import printable
from .byte_range import FileRange, ImageSource


@dataclass(frozen=True)
class ConvertSpec:
    """Everything that goes on a `qemu-img convert` command line."""

    source: str | FileRange
    source_format: str
    target: str
    target_format: str
    options: tuple[str, ...] = ()
    compress: bool = False
    no_create: bool = False  # the target exists already (made with `create`)
    cache: str = "writeback"
    source_cache: str = "writeback"
    coroutines: int = 8
    out_of_order: bool = False
    rate_limit: int | None = None  # bytes per second, for throttled runs
    source_chain: tuple[tuple[str, str], ...] = ()  # backing layers (path, format) to follow


def absolute(path: str | os.PathLike[str]) -> str:
    """An absolute path, so that `-f`, `json:{...}` or `nbd:x` can only mean a file."""
    text = os.fspath(path)
    if "\0" in text:
        raise ValueError("A path cannot contain a NUL byte.")
    return os.path.abspath(text)


def image_reference(path: ImageSource, fmt: str | None, chain: Sequence[tuple[str, str]] = ()) -> str:
    """How every user image is named to qemu-img: a `json:` filename that names the driver
    (None: qemu probes) and the file, and ends the backing chain where we say.

    `chain` lists the backing layers below the image, (path, format) each, exactly as they
    were inspected; empty, the image has no backing at all, even if its header names one
    that was written after we looked. (An external data file cannot be switched off this
    way in qemu 7.2: the source's identity check is what guards against one.) Built with
    json.dumps, so quotes, commas and any Unicode in a path stay one string. A FileRange
    is read in place, through a raw node that exposes only its bytes.
    """
    node: dict[str, Any] | None = None
    for layer, layer_format in reversed(chain):
        node = _image_node(layer, layer_format, node)
    return "json:" + json.dumps(_image_node(path, fmt, node))


def _image_node(path: ImageSource, fmt: str | None, backing: dict[str, Any] | None) -> dict[str, Any]:
    node: dict[str, Any] = {"driver": fmt} if fmt else {}
    node.update(backing=backing, file=file_node(path))
    return node


def file_node(path: ImageSource) -> dict[str, Any]:
    """The protocol node that reads the image's bytes: the file, or a range of it."""
    filename = absolute(path.path if isinstance(path, FileRange) else path)
    try:
        filename.encode()
    except UnicodeEncodeError:
        raise InvalidPath(
            f"The name {printable(filename)} is not valid UTF-8, so qemu-img cannot be given it; "
            "rename the file."
        ) from None
    whole = {"driver": "file", "filename": filename}
    return path.node(whole) if isinstance(path, FileRange) else whole


def info_args(path: ImageSource, fmt: str) -> list[str]:
    return ["info", "-f", fmt, "--output=json", "-U", image_reference(path, fmt)]


def probe_info_args(path: ImageSource) -> list[str]:
    """`info` with qemu's own format probe: only for files that passed our safety gate."""
    return ["info", "--output=json", "-U", image_reference(path, None)]


def check_args(path: ImageSource, fmt: str) -> list[str]:
    return ["check", "-f", fmt, "--output=json", "-U", image_reference(path, fmt)]


def map_args(
    path: ImageSource,
    fmt: str,
    *,
    max_length: int,
    start: int = 0,
    chain: Sequence[tuple[str, str]] = (),
) -> list[str]:
    return [
        "map", "-f", fmt, "--output=json", "-U", f"--start-offset={start}",
        f"--max-length={max_length}", image_reference(path, fmt, chain),
    ]  # fmt: skip


def measure_args(
    path: ImageSource,
    fmt: str,
    target: str,
    options: Sequence[str] = (),
    chain: Sequence[tuple[str, str]] = (),
) -> list[str]:
    args = ["measure", "--output=json", "-f", fmt, "-O", target]
    if options:
        args += ["-o", ",".join(options)]
    return [*args, image_reference(path, fmt, chain)]


def compare_args(
    first: ImageSource,
    first_format: str,
    second: str | os.PathLike[str],
    second_format: str,
    first_chain: Sequence[tuple[str, str]] = (),
) -> list[str]:
    args = ["compare", "-q", "-U", "-f", first_format, "-F", second_format]
    refs = [image_reference(first, first_format, first_chain), image_reference(second, second_format)]
    return [*args, *refs]


def convert_args(spec: ConvertSpec) -> list[str]:
    """The argv of one conversion, with progress (-p) on."""
    args = ["convert", "-p", "-U", "-f", spec.source_format, "-O", spec.target_format]
    if spec.compress:
        args.append("-c")
    if spec.no_create:
        args.append("-n")
    elif spec.options:
        args += ["-o", ",".join(spec.options)]
    args += ["-t", spec.cache, "-T", spec.source_cache]
    if spec.coroutines:
        args += ["-m", str(spec.coroutines)]
    if spec.out_of_order:
        args.append("-W")
    if spec.rate_limit:
        args += ["-r", str(spec.rate_limit)]
    source = image_reference(spec.source, spec.source_format, spec.source_chain)
    return [*args, source, absolute(spec.target)]


def create_args(
    path: str | os.PathLike[str],
    fmt: str,
    size: int,
    options: Sequence[str] = (),
    backing: tuple[str, str] | None = None,
) -> list[str]:
    """`backing` is (name as written into the image, its format)."""
    args = ["create", "-q", "-f", fmt]
    if backing is not None:
        args += ["-b", backing[0], "-F", backing[1], "-u"]
    if options:
        args += ["-o", ",".join(options)]
    return [*args, absolute(path), str(size)]
