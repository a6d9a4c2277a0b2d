"""Console capture for the platform: the run's log lines, collected by a logging handler and sent in batches.

The handler only appends formatted lines to a list (the training thread never waits); the sender thread
takes them (`drain`) every couple of seconds and spools them as one `console` event. What is captured is
what the run logs through the `yoloforge` logger (the lines you see on the terminal, progress bars aside).
"""

from __future__ import annotations

import logging
import threading

MAX_LINE = 4000  # characters kept of one line


class ConsoleCapture(logging.Handler):
    """A logging handler collecting the records of `logger` as lines, until `close()`."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(level=logging.INFO)
        self.setFormatter(logging.Formatter("%(message)s"))
        self._lines: list[str] = []
        self._lock_lines = threading.Lock()
        self._logger = logger
        logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a broken record must not break training
            return
        lines = [line[:MAX_LINE] for line in text.splitlines() if line.strip()]
        if record.levelno >= logging.WARNING:
            lines = [f"{record.levelname}: {line}" for line in lines]
        with self._lock_lines:
            self._lines.extend(lines)

    def drain(self) -> list[str]:
        """The lines collected since the last call."""
        with self._lock_lines:
            lines, self._lines = self._lines, []
        return lines

    def close(self) -> None:
        self._logger.removeHandler(self)
        super().close()
