"""Diskscope: inspect, verify, convert and fetch virtual-machine disk images."""

__version__ = "0.1.0"
