"""Named training events and their subscribers.

The trainer emits events; loggers, the platform client and user code subscribe. A subscriber that
raises is logged and skipped: it can never stop a training run.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from yoloforge.errors import ConfigError
from yoloforge.utils.log import LOGGER

EVENTS = (
    "on_pretrain_routine_start",
    "on_pretrain_routine_end",
    "on_train_start",
    "on_train_epoch_start",
    "on_train_batch_start",
    "on_train_batch_end",
    "on_train_epoch_end",
    "on_fit_epoch_end",
    "on_model_save",
    "on_train_end",
    "teardown",
)

Callback = Callable[[Any], object]


class Callbacks:
    """A registry of subscribers per event; `run(event, trainer)` calls them in order."""

    def __init__(self, failures: list[tuple[str, str]] | None = None) -> None:
        self._subs: dict[str, list[Callback]] = defaultdict(list)
        self.failures: list[tuple[str, str]] = [] if failures is None else failures

    def extend(self, other: Callbacks) -> None:
        """Append every subscriber of `other`, event by event, after this one's."""
        for event, fns in other._subs.items():
            self._subs[event].extend(fns)

    def add(self, event: str, fn: Callback) -> None:
        if event not in EVENTS:
            raise ConfigError(f"unknown callback event '{event}'; events are: {', '.join(EVENTS)}")
        if not callable(fn):
            raise ConfigError(f"callback for '{event}' is not callable: {fn!r}")
        self._subs[event].append(fn)

    def subscribers(self, event: str) -> list[Callback]:
        return list(self._subs.get(event, ()))

    def run(self, event: str, trainer: Any) -> None:
        """Call every subscriber; a failing one is logged with its name and never propagates."""
        for fn in self._subs.get(event, ()):
            try:
                fn(trainer)
            except Exception as e:
                name = getattr(fn, "__qualname__", repr(fn))
                self.failures.append((event, name))
                LOGGER.warning(
                    "callback %s failed on %s (training continues): %s: %s", name, event, type(e).__name__, e
                )
