"""`--version` for both command lines, reading the version only when it is asked for."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


class ShowVersion(argparse.Action):
    """Print `diskscope VERSION` and exit, as argparse's own "version" action does, but
    without reading the installed metadata while the parser is built."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 help: str = "show program's version number and exit") -> None:  # fmt: skip
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:  # fmt: skip
        from .. import __version__

        print(f"diskscope {__version__}", file=sys.stdout)
        parser.exit()
