"""gunicorn's entry point for the test Keystone.

Importing keystone.wsgi.api parses sys.argv with oslo.config; under gunicorn that is
gunicorn's own command line, which Keystone refuses (every worker would exit 2 and be
restarted forever). Emptying it first is all this module does.
"""

import sys

sys.argv[1:] = []

from keystone.wsgi.api import application  # noqa: E402,F401
