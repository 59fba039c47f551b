"""Errors are told apart by their types and fields, made from real failures."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import socket
from collections.abc import Iterator
from pathlib import Path

import diskscope.core
import pytest
import requests
from diskscope.core import errors
from diskscope.core.errors import MeasureUnsupported, NetworkError, NetworkProblem, NotFound
from diskscope.core.fetch import download as fetch
from diskscope.core.fetch import transport
from diskscope.core.fetch.http import HttpOptions, get, raise_for_status, session_for
from diskscope.core.qemu.qemu_img import QemuImg
from httpserver import serving
from imagekit import MiB, raw_file


def _core_modules() -> Iterator[object]:
    for info in pkgutil.walk_packages(diskscope.core.__path__, "diskscope.core."):
        yield importlib.import_module(info.name)


def test_every_exception_class_lives_in_core_errors() -> None:
    elsewhere = {
        f"{module.__name__}.{name}"  # type: ignore[attr-defined]
        for module in _core_modules()
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, errors.DiskscopeError)
        and obj.__module__ != errors.__name__
    }
    assert not elsewhere


def test_one_not_enough_space_error() -> None:
    assert fetch.NotEnoughSpaceForDownload is errors.NotEnoughSpace


def _get(url: str, **options: float) -> None:
    opts = HttpOptions(**options)  # type: ignore[arg-type]
    get(session_for(opts), url, opts).close()


def test_a_refused_connection_is_classified_by_type() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: the kernel refuses
        with pytest.raises(NetworkError) as caught:
            _get(f"http://127.0.0.1:{port}/x?secret=1")
    assert caught.value.problem == NetworkProblem.REFUSED
    assert "secret" not in str(caught.value)


def test_a_server_that_never_answers_is_a_timeout() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # accepts the connection (in the backlog), never answers
        with pytest.raises(NetworkError) as caught:
            _get(f"http://127.0.0.1:{silent.getsockname()[1]}/x", read_timeout=0.5)
    assert caught.value.problem == NetworkProblem.TIMEOUT


def test_a_missing_file_is_not_found_with_its_status() -> None:
    with serving() as server, requests.Session() as session:
        response = session.get(server.url("absent.raw"), timeout=30)
        with pytest.raises(NotFound) as caught:
            raise_for_status(response, "absent.raw")
    assert caught.value.status == 404


def test_formats_qemu_img_cannot_measure_raise_measure_unsupported(tmp_path: Path) -> None:
    source = raw_file(tmp_path / "s.raw", MiB)
    with pytest.raises(MeasureUnsupported):
        QemuImg().measure(source, "raw", "vpc")
    assert QemuImg().measure(source, "raw", "qcow2").required > 0


def test_the_download_names_the_problem_from_its_type() -> None:
    fake = requests.exceptions.ConnectionError("gibberish without the usual words")
    fake.__cause__ = ConnectionRefusedError(111, "x")
    assert transport.reason(NetworkError("x", NetworkProblem.TIMEOUT)) == "the server stopped sending data"
    assert transport.reason(fake) == "connection refused"
