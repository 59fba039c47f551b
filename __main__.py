"""`python -m diskscope`: the same as the `diskscope` command."""

import sys

from .core.cli import main

sys.exit(main())
