"""The package logger, and how its messages reach a terminal without the library configuring logging.

Two callers, two rules:

- The CLI owns its process, so `setup_logging` gives the `yoloforge` logger a stderr handler of its own.
- The Python API is a guest in someone else's process. It never touches the root logger, never adds a
  handler that competes with the application's, and never turns propagation off. `api_logging` (called by
  each facade method) installs one `_Fallback` handler on the `yoloforge` logger. Like Python's
  `logging.lastResort`, it writes a record to stderr only when no other handler would see it: as soon as the
  application configures logging (`logging.basicConfig`, a handler on `yoloforge` or on the root), it stays
  silent and yoloforge's records go to the application's handlers with the application's levels. The one
  thing set on the `yoloforge` logger is its level (INFO, or WARNING with verbose=False), and only while
  logging is unconfigured and the application set no level on it: that is what makes `val()`'s table and
  "Results saved to" visible in a plain script, as a user of Ultralytics expects. Once logging is
  configured, the next API call gives the level back (NOTSET), so the application's levels rule.

Why not print() for tables: output that bypasses logging cannot be redirected or silenced by an application
that logs to a file; through logging it can, and a plain script still sees it.
"""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("yoloforge")


class _Fallback(logging.Handler):
    """Writes to the current sys.stderr, but only records no other handler in the logger chain would handle."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if _configured():
            return False
        return bool(super().handle(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


_FALLBACK = _Fallback()
_OUR_LEVEL = "_yoloforge_level"  # marks a level set by api_logging, so it can be given back


def _configured() -> bool:
    """True when some handler other than ours would see a yoloforge record (the application's, pytest's)."""
    logger: logging.Logger | None = LOGGER
    while logger is not None:
        if any(h is not _FALLBACK for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


def api_logging(verbose: bool = True) -> None:
    """Make the Python API's messages visible when the application configured no logging (module docstring)."""
    if _FALLBACK not in LOGGER.handlers:
        LOGGER.addHandler(_FALLBACK)
    ours = getattr(LOGGER, _OUR_LEVEL, None)
    if _configured():
        if ours is not None and LOGGER.level == ours:
            LOGGER.setLevel(logging.NOTSET)  # the application's levels rule from now on
        setattr(LOGGER, _OUR_LEVEL, None)
        return
    if LOGGER.level == logging.NOTSET or LOGGER.level == ours:
        level = logging.INFO if verbose else logging.WARNING
        LOGGER.setLevel(level)
        setattr(LOGGER, _OUR_LEVEL, level)


def setup_logging(verbose: bool = True) -> logging.Logger:
    """For the CLI only: send yoloforge's messages to stderr once; later calls only change the level."""
    if not any(getattr(h, "_yoloforge", False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._yoloforge = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
    LOGGER.setLevel(logging.INFO if verbose else logging.WARNING)
    return LOGGER
