"""Billing's handlers on the jobs and streaming hook registries: meter every job transition and epoch, gate
starts and resumes, ask jobs to pause a job whose balance ran out.

`register(policy)` is called by `create_app` (nothing happens at import). The registries belong to jobs
(`services/job_hooks.py`) and streaming (`services/run_hooks.py`); until those modules are merged into
this branch, `register` wires only what exists and reports what it wired.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from sqlalchemy.orm import Session

from yoloforge.platform.services import billing_rules, metering

_policy: list[billing_rules.BillingPolicy] = [billing_rules.BillingPolicy()]
_wired: set[str] = set()


def _module(name: str) -> Any | None:
    full = f"yoloforge.platform.services.{name}"
    return importlib.import_module(full) if importlib.util.find_spec(full) is not None else None


def gate(session: Session, user: Any, gpu_type: Any) -> None:
    """jobs' start gate: billing_rules.check_can_start with the server's policy."""
    billing_rules.check_can_start(session, user, gpu_type, policy=_policy[0])


def on_job_transition(session: Session, job: Any, transition: Any) -> None:
    """Meter a JobTransition row (inside jobs' transaction)."""
    metering.on_transition(session, job, transition.from_state, transition.to_state, transition.at)


def _pause(session: Session, model: Any, reason: str | None) -> None:
    jobs = _module("jobs")
    if reason and jobs is not None:
        job = jobs.find_job(session, model)
        if job is not None:
            jobs.pause(session, job, reason)


def on_run_start(session: Session, model: Any, event: Any) -> None:
    """The run-start event marks where the first epoch began (the `setup` row ends there)."""
    metering.on_run_start(session, model, event.received_at)


def on_epoch(session: Session, model: Any, event: Any) -> None:
    """Charge the epoch at the server's receive time; pause the job when the balance cannot cover another."""
    if event.epoch is None:
        return
    out = metering.on_epoch_end(session, model, int(event.epoch), event.received_at)
    _pause(session, model, out.pause_reason)


def register(policy: billing_rules.BillingPolicy) -> set[str]:
    """Register the handlers once per process (the policy is updated on every call); returns what is wired."""
    _policy[0] = policy
    job_hooks, run_hooks = _module("job_hooks"), _module("run_hooks")
    if job_hooks is not None and "jobs" not in _wired:
        job_hooks.on_transition(on_job_transition)
        job_hooks.set_start_gate(gate)
        _wired.add("jobs")
    if run_hooks is not None and "stream" not in _wired:
        run_hooks.on_run_event("start", on_run_start)
        run_hooks.on_run_event("epoch", on_epoch)
        _wired.add("stream")
    return set(_wired)
