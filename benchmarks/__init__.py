"""Diskscope's benchmark suite: every figure a ratio against what an admin would use instead.

Run `python -m benchmarks` (or `make bench`); `--quick` is the small version CI runs.
"""
