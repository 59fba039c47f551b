"""Recent log lines kept in memory for View > Log."""

from __future__ import annotations

import logging
from collections import deque

from ..core.text import SafeFormatter


class LogBuffer(logging.Handler):
    def __init__(self, capacity: int = 2000) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: deque[str] = deque(maxlen=capacity)
        # Scrubbed of tokens and query strings: the log can be copied into a bug report.
        self.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a handler must never raise
            self.handleError(record)

    def text(self) -> str:
        return "\n".join(self.lines)


LOG_BUFFER = LogBuffer()
