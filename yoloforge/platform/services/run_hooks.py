"""Run facts for other services: the ingestion service calls the handlers registered here.

    on_run_event("epoch", handler)   # handler(session, model, event: RunEvent) -> None

Kinds: `start` (a run began or resumed: the model is `running`), `epoch` (an epoch's metrics arrived, once
per epoch), `end` (`event.status` is completed, failed or stopped), `heartbeat` (the run is alive; at most
every HEARTBEAT_SECONDS per run), `lost` (no word from the run for the server's `lost_after_seconds`).
Handlers run inside the ingestion transaction: they must not commit, and an exception rolls the whole
batch back (the client retries it), so handlers should raise only for real faults.

`set_command_source(fn)` adds `fn(session, model) -> "stop" | None`: any source saying "stop" makes the
server's reply to the run say so (jobs registers its stop/cancel/pause wishes here).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, Run

KINDS = ("start", "epoch", "end", "heartbeat", "lost")
HEARTBEAT_SECONDS = 10.0

Handler = Callable[[Session, Model, "RunEvent"], None]
CommandSource = Callable[[Session, Model], "str | None"]

_handlers: dict[str, list[Handler]] = {k: [] for k in KINDS}
_command_sources: list[CommandSource] = []


@dataclass(frozen=True)
class RunEvent:
    """A fact about a run: `received_at` is the server's clock (UTC), the one to meter by."""

    kind: str
    run: Run
    received_at: dt.datetime
    epoch: int | None = None
    status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def on_run_event(kind: str, handler: Handler) -> None:
    """Register `handler` for `kind` (one of KINDS); registering the same handler twice is a no-op."""
    if kind not in KINDS:
        raise ValueError(f"unknown run event kind {kind!r}: use one of {', '.join(KINDS)}")
    if handler not in _handlers[kind]:
        _handlers[kind].append(handler)


def remove_run_handler(kind: str, handler: Handler) -> None:
    """Unregister (tests)."""
    if handler in _handlers.get(kind, []):
        _handlers[kind].remove(handler)


def emit(session: Session, model: Model, event: RunEvent) -> None:
    """Call the handlers of `event.kind` in registration order."""
    for handler in list(_handlers[event.kind]):
        handler(session, model, event)


def set_command_source(fn: CommandSource) -> None:
    """Add a source of commands for runs (see the module docstring)."""
    if fn not in _command_sources:
        _command_sources.append(fn)


def remove_command_source(fn: CommandSource) -> None:
    if fn in _command_sources:
        _command_sources.remove(fn)


def command_for(session: Session, model: Model, run: Run) -> str | None:
    """'stop' when the run's own flag or any registered source says so."""
    if run.stop_requested:
        return "stop"
    for fn in list(_command_sources):
        if fn(session, model) == "stop":
            return "stop"
    return None
