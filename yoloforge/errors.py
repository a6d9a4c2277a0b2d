"""Errors a user can act on. The CLI prints these as one clear message (no traceback)."""

from __future__ import annotations


class YoloforgeError(Exception):
    """Base for every error caused by input the user can fix (a setting, a file, a dataset)."""


class ConfigError(YoloforgeError, ValueError):
    """A setting is unknown or has a bad value."""


class CheckpointError(YoloforgeError, ValueError):
    """A checkpoint file is unsafe, corrupt, or lacks what is needed."""
