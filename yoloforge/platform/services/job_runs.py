"""What jobs take from the streaming service (issue 11) once it is present: heartbeats and the `stop` reply.

`register()` hooks into `services/run_hooks.py` when that module exists: every run event of a cloud model's run
(start, epoch, heartbeat) refreshes its job's heartbeat, and the reply to the run's events says `stop` while a
stop, cancel or pause is wanted. Without the streaming service, a live worker process is the heartbeat
(`JobRunner.heartbeat_from_process`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from yoloforge.platform.services import jobs


def _heartbeat(session: Session, model: Any, event: Any) -> None:
    job = jobs.find_job(session, model)
    if job is not None and job.state in jobs.ACTIVE:
        job.heartbeat_at = event.received_at
        if job.handle is not None and not job.handle.get("streaming"):
            job.handle = {**job.handle, "streaming": True}  # from now on only the run's events are its heartbeat


def _command(session: Session, model: Any) -> str | None:
    return "stop" if jobs.stop_wanted(session, model) else None


def register() -> bool:
    """Register with the streaming service's run hooks; False when it is not installed (then nothing changes)."""
    try:
        from yoloforge.platform.services import run_hooks  # type: ignore[attr-defined]
    except ImportError:
        return False
    for kind in ("start", "epoch", "heartbeat"):
        run_hooks.on_run_event(kind, _heartbeat)
    run_hooks.set_command_source(_command)
    return True


def request_remote_stop(session: Session, model: Any) -> bool:
    """Ask a remote run (a model without a job) to stop through the streaming service; False without it."""
    try:
        from yoloforge.platform.services import stream_runs  # type: ignore[attr-defined]
    except ImportError:
        return False
    return bool(stream_runs.request_stop(session, model))
