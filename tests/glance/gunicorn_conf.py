"""gunicorn settings for the test Glance: make our paste filter importable and
serialise sqlite transactions before Glance creates its engine."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import sqlite_immediate

sqlite_immediate.install()
