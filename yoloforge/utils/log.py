"""The package logger. Configured only when the CLI or the facade asks: importing does nothing."""

from __future__ import annotations

import logging
import sys

LOGGER = logging.getLogger("yoloforge")


def setup_logging(verbose: bool = True) -> logging.Logger:
    """Send yoloforge's messages to stderr once; later calls only change the level."""
    if not any(getattr(h, "_yoloforge", False) for h in LOGGER.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._yoloforge = True  # type: ignore[attr-defined]
        LOGGER.addHandler(handler)
        LOGGER.propagate = False
    LOGGER.setLevel(logging.INFO if verbose else logging.WARNING)
    return LOGGER
