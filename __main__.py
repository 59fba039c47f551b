"""`python -m diskscope`: the same as the `diskscope` command."""

import sys

from diskscope.core.cli import main

sys.exit(main())
