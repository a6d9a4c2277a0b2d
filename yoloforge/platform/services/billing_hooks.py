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
    """jobs.pause for the model's running job (never raises into the ingestion transaction for an ended job)."""
    jobs = _module("jobs")
    if reason and jobs is not None:
        job = jobs.find_job(session, model)
        if job is not None and job.state == "running":
            jobs.pause(session, job, reason)


def after_top_up(session: Session, user_id: int) -> list[int]:
    """Resume the account's jobs paused for balance when it chose auto-resume and the balance now allows it.

    Returns the job ids queued again; commits. Without jobs' service (before the merge) nothing is resumed.
    """
    jobs, db = _module("jobs"), importlib.import_module("yoloforge.platform.db")
    job_table = getattr(db, "Job", None)
    if jobs is None or job_table is None:
        return []
    resumed = []
    for job_id in billing_rules.resumable_after_top_up(session, user_id, _policy[0]):
        job = session.get(job_table, job_id)
        if job is not None and job.state == "paused":
            jobs.resume(session, job, "resumed after a top-up (auto-resume is on)")
            resumed.append(job_id)
    session.commit()
    return resumed


def _lock_job(session: Session, model: Any) -> None:
    """Lock the model's job row first, so every path takes job then account (a transition does the same): two
    transactions never wait on each other in opposite orders (PostgreSQL; SQLite has one writer anyway)."""
    jobs = _module("jobs")
    if jobs is not None:
        job = jobs.find_job(session, model)
        if job is not None:
            session.refresh(job, with_for_update=True)


def on_run_start(session: Session, model: Any, event: Any) -> None:
    """The run-start event marks where the first epoch began (the `setup` row ends there)."""
    _lock_job(session, model)
    metering.on_run_start(session, model, event.received_at)


def on_epoch(session: Session, model: Any, event: Any) -> None:
    """Charge the epoch at the server's receive time; pause the job when the balance cannot cover another."""
    if event.epoch is None:
        return
    _lock_job(session, model)
    out = metering.on_epoch_end(session, model, int(event.epoch), event.received_at)
    _pause(session, model, out.pause_reason)


def register(policy: billing_rules.BillingPolicy) -> set[str]:
    """Register the handlers (again after a registry's reset; the policy is updated); returns what is wired."""
    _policy[0] = policy
    job_hooks, run_hooks, wired = _module("job_hooks"), _module("run_hooks"), set()
    if job_hooks is not None:  # both registries ignore a handler registered twice
        job_hooks.on_transition(on_job_transition)
        job_hooks.set_start_gate(gate)
        wired.add("jobs")
    if run_hooks is not None:
        run_hooks.on_run_event("start", on_run_start)
        run_hooks.on_run_event("epoch", on_epoch)
        wired.add("stream")
    return wired
