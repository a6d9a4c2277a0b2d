"""Hooks on cloud jobs: who is told of each state change, and the gate a job passes before it starts.

Billing (and anything else) registers here; jobs calls them:

    on_transition(handler)   handler(session, job, transition) runs INSIDE the transaction that wrote the
                             JobTransition row, before it commits (raise to refuse the change)
    set_start_gate(fn)       fn(session, user, gpu_type) -> None, raising a ServiceError (e.g. 402) when
                             the account may not start a job on that type; the default lets every job start

The registry is per process and cleared with `reset()` (tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from yoloforge.platform.db import Job, JobTransition, User
    from yoloforge.platform.gpus import GpuType

TransitionHandler = Callable[["Session", "Job", "JobTransition"], Any]
StartGate = Callable[["Session", "User", "GpuType"], None]

_handlers: list[TransitionHandler] = []


def _allow_all(session: Session, user: User, gpu_type: GpuType) -> None:
    """The default gate: every account may start a job on every available type."""


_gate: list[StartGate] = [_allow_all]


def on_transition(handler: TransitionHandler) -> TransitionHandler:
    """Call `handler(session, job, transition)` after every job state change (usable as a decorator)."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def emit(session: Session, job: Job, transition: JobTransition) -> None:
    """Run every transition handler, in registration order (jobs calls this; an exception aborts the change)."""
    for handler in list(_handlers):
        handler(session, job, transition)


def set_start_gate(gate: StartGate) -> None:
    """Replace the start gate (billing registers its balance check here)."""
    _gate[0] = gate


def check_can_start(session: Session, user: User, gpu_type: GpuType) -> None:
    """Raise the gate's ServiceError when `user` may not start (or resume) a job on `gpu_type`."""
    _gate[0](session, user, gpu_type)


def reset() -> None:
    """Forget every handler and put the default gate back."""
    _handlers.clear()
    _gate[0] = _allow_all
