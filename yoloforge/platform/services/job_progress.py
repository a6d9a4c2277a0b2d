"""Following one running job's worker: its phase, heartbeat, the stop it was asked for, and how it ended.

How the worker ended decides the job's state: exit 0 `completed`; 143/130 after a stop, cancel or pause the
state asked for; any other graceful stop (a preemption's SIGTERM), a kill by a signal, or a worker that vanished
(no exit code) is a crash: `retrying` from last.pt up to `max_restarts`; another exit code is `failed`, with
the last line of the log as the reason.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yoloforge.platform.db import Job, utcnow
from yoloforge.platform.executors.base import LOG_FILE
from yoloforge.platform.executors.run_folder import store_weights, sync_metrics
from yoloforge.platform.services import jobs

STOPPED_CODES = (143, 130)  # the library's graceful stop (SIGTERM or a request; Ctrl-C)
FORCE_AFTER = 60.0  # seconds after a graceful stop before the worker is killed


def run_dir(job: Job, jobs_dir: Path) -> Path:
    """The trainer's run folder: JOB_DIR/<owner>/<project>/<model> (project=owner/project name=model)."""
    model = job.model
    return jobs_dir / str(job.model_id) / model.project.owner.name / model.project.name / model.name


def follow(runner: Any, session: Session, job: Job) -> None:
    """One poll of `job` (active, with a handle): update its state from what its worker does (not committed)."""
    executor = runner.executor(job.executor or "local")
    status = executor.poll(job.handle)
    folder = run_dir(job, runner.settings.jobs_dir)
    now = utcnow()
    if status.placement is not None and "placement" not in job.handle:
        job.handle = {**job.handle, "placement": status.placement}
    if status.alive:
        if runner.heartbeat_from_process or not job.handle.get("streaming"):
            job.heartbeat_at = now  # until its run streams (imports, dataset, model build), a live process is alive
        _phases(session, job, status.phases)
        if runner.heartbeat_from_process:  # no streaming service: the run folder is where epochs are learnt
            sync_metrics(session, job.model, folder)
        silent = (now - (job.heartbeat_at or now)).total_seconds()
        if silent > runner.settings.heartbeat_timeout:
            executor.stop(job.handle, force=True)
            runner._worker_lost(session, job, f"no heartbeat for {silent:.0f} s")
            return
        _send_stop(executor, job, now)
        return
    _phases(session, job, status.phases)
    try:  # epochs the stream has not delivered yet (stored once either way)
        with session.begin_nested():
            sync_metrics(session, job.model, folder)
    except IntegrityError:
        pass  # the stream stored them meanwhile
    store_weights(session, runner.state.storage, job.model, folder)
    _ended(runner, session, job, status.exit_code)


def _phases(session: Session, job: Job, phases: list[tuple[str, float]]) -> None:
    """Apply the phases the worker entered since the last poll, each at the time the worker wrote."""
    for phase, ts in phases:
        at = dt.datetime.fromtimestamp(ts, dt.timezone.utc)
        if phase == "downloading" and job.state == jobs.STARTING:
            jobs.transition(session, job, jobs.DOWNLOADING, "fetching the dataset", at=at)
        elif phase == "running" and job.state in (jobs.STARTING, jobs.DOWNLOADING):
            jobs.transition(session, job, jobs.RUNNING, "the trainer started", at=at)


def _send_stop(executor: Any, job: Job, now: dt.datetime) -> None:
    """Send the graceful stop once when one is wanted; kill the worker if it has not ended FORCE_AFTER later."""
    if job.want is None:
        return
    sent = job.handle.get("stop_sent")
    if sent is None:
        executor.stop(job.handle)  # raises when it could not be sent: the next poll tries again
        job.handle = {**job.handle, "stop_sent": now.timestamp()}
    elif now.timestamp() - sent > FORCE_AFTER:
        executor.stop(job.handle, force=True)


def _ended(runner: Any, session: Session, job: Job, code: int | None) -> None:
    if code == 0:
        jobs.transition(session, job, jobs.COMPLETED, "training finished")
    elif job.want in jobs.WANTS:  # ended after a stop, cancel or pause was asked: that is what it becomes
        jobs.transition(session, job, jobs.WANTS[job.want], job.reason or f"{job.want} requested")
    elif code is None or code < 0 or code in STOPPED_CODES:
        why = "the worker vanished" if code is None else f"the worker ended with exit code {code}"
        runner._worker_lost(session, job, why)
    else:
        jobs.transition(session, job, jobs.FAILED, f"exit code {code}: {_last_line(job, runner.settings.jobs_dir)}")


def _last_line(job: Job, jobs_dir: Path) -> str:
    """The log's last line that says what went wrong (or its last line)."""
    try:
        lines = (jobs_dir / str(job.model_id) / LOG_FILE).read_text(errors="replace").splitlines()[-200:]
    except OSError:
        return "no log"
    lines = [line.strip() for line in lines if line.strip()]
    for line in reversed(lines):
        if "error" in line.lower():
            return line[:500]
    return (lines[-1] if lines else "empty log")[:500]
