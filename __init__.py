"""Diskscope: inspect, verify, convert and fetch virtual-machine disk images."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`__version__`, read from the installed metadata (pyproject.toml holds it) when it is
    first asked for: importlib.metadata takes about 20 ms to import, which every command
    would pay at start-up."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import version

    found = version("diskscope")
    globals()["__version__"] = found
    return found
