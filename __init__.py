"""Diskscope: inspect, verify, convert and fetch virtual-machine disk images."""

from importlib.metadata import version

# pyproject.toml holds the version; `diskscope` is importable only once installed.
__version__ = version("diskscope")
