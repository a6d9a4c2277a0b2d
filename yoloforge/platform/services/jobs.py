"""Cloud training jobs: the lifecycle (every state change is a JobTransition row), stop, resume, cancel, pause,
quotas and queue positions. Placement on executors is scheduler.py; submission is job_submit.py.

States (../shared/PLATFORM.md): queued -> starting -> downloading -> running -> completed | failed | stopped |
cancelled, plus paused (billing stopped it at an epoch end) and retrying (its worker vanished; it is placed
again and resumes from last.pt). Stopped and paused jobs can be resumed: back to queued.

Functions here change rows and flush; the caller commits (routes through `commit`, the scheduler per
placement), so billing's transition handlers run inside the same transaction as the row they meter.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Job, JobQuota, JobTransition, Model, utcnow
from yoloforge.platform.services import job_hooks
from yoloforge.platform.services.errors import Conflict, NotFound

QUEUED, STARTING, DOWNLOADING, RUNNING = "queued", "starting", "downloading", "running"
COMPLETED, FAILED, STOPPED, CANCELLED, PAUSED, RETRYING = (
    "completed", "failed", "stopped", "cancelled", "paused", "retrying"
)  # fmt: skip
STATES = (QUEUED, STARTING, DOWNLOADING, RUNNING, COMPLETED, FAILED, STOPPED, CANCELLED, PAUSED, RETRYING)
ACTIVE = (STARTING, DOWNLOADING, RUNNING)  # holding a slot of a pool
WAITING = (QUEUED, RETRYING)  # waiting for a slot, in FIFO order of queued_at
RESUMABLE = (STOPPED, PAUSED)
ENDED = (COMPLETED, FAILED, STOPPED, CANCELLED, PAUSED)
_ENDINGS = (COMPLETED, FAILED, STOPPED, CANCELLED, PAUSED, RETRYING)
ALLOWED: dict[str, tuple[str, ...]] = {
    QUEUED: (STARTING, STOPPED, CANCELLED, FAILED),
    STARTING: (DOWNLOADING, RUNNING, *_ENDINGS),
    DOWNLOADING: (RUNNING, *_ENDINGS),
    RUNNING: _ENDINGS,
    RETRYING: (STARTING, CANCELLED, FAILED, STOPPED),
    STOPPED: (QUEUED, CANCELLED),
    PAUSED: (QUEUED, CANCELLED),
    COMPLETED: (),
    FAILED: (),
    CANCELLED: (),
}
# what the model's status (the run vocabulary of the streaming service) says while its job is in each state
MODEL_STATUS = {QUEUED: "pending", STARTING: "pending", DOWNLOADING: "pending", RETRYING: "pending",
                RUNNING: "running", COMPLETED: "completed", FAILED: "failed", STOPPED: "stopped",
                CANCELLED: "stopped", PAUSED: "stopped"}  # fmt: skip
WANTS = {"stop": STOPPED, "cancel": CANCELLED, "pause": PAUSED}


def transition(
    session: Session, job: Job, to: str, reason: str = "", *, at: dt.datetime | None = None
) -> JobTransition:
    """Move `job` to state `to`, writing the transition row and calling the job hooks (not committed).

    `at` is when it happened (default now; a worker's phase carries its own time, never earlier than the last
    row). Raises Conflict when the lifecycle does not allow the change (e.g. resuming a completed job)."""
    if to not in ALLOWED.get(job.state, ()):
        raise Conflict(f"job of model {job.model.name!r} is {job.state}; it cannot become {to}")
    now = utcnow() if at is None else min(at, utcnow())
    if job.transitions and job.transitions[-1].at > now:
        now = job.transitions[-1].at
    row = JobTransition(job_id=job.id, from_state=job.state, to_state=to, at=now, reason=reason)
    job.state = to
    job.reason = reason or job.reason
    if to == QUEUED:
        job.queued_at, job.ended_at, job.want = now, None, None
    elif to == STARTING:
        job.started_at, job.heartbeat_at = now, now
    elif to in ENDED:
        job.ended_at = now
    model = job.model
    model.status = MODEL_STATUS[to]
    if to == RUNNING and model.started_at is None:
        model.started_at = now
    if to in ENDED:
        model.ended_at = now
    job.transitions.append(row)
    session.flush()
    job_hooks.emit(session, job, row)
    if to in ENDED:
        from yoloforge.platform.services import job_tokens, notifications

        job_tokens.revoke_for_model(session, job.model_id)
        notifications.job_ended(session, job, row)
    return row


def first_transition(session: Session, job: Job, reason: str) -> JobTransition:
    """The row of a new job entering `queued` (from no state)."""
    row = JobTransition(job_id=job.id, from_state=None, to_state=QUEUED, at=job.queued_at, reason=reason)
    job.transitions.append(row)
    session.flush()
    job_hooks.emit(session, job, row)
    return row


def find_job(session: Session, model: Model) -> Job | None:
    """The job of a cloud model (None for a remote model: no query, this runs for every streamed event)."""
    if model.source != "cloud":
        return None
    return session.scalar(select(Job).where(Job.model_id == model.id))


def job_of(session: Session, model: Model) -> Job:
    job = find_job(session, model)
    if job is None:
        raise NotFound(f"model {model.name!r} was not trained by the platform: it has no job to stop or resume")
    return job


def request_end(session: Session, job: Job, want: str, reason: str) -> None:
    """Ask for a stop, cancel or pause. A waiting job ends now; a running one when its worker exits (the
    scheduler sends the graceful stop). Conflict when the job already ended."""
    if job.state in ENDED:
        if want == "cancel" and job.state in RESUMABLE:
            transition(session, job, CANCELLED, reason)
            return
        raise Conflict(f"job of model {job.model.name!r} is already {job.state}")
    if job.state in WAITING:
        transition(session, job, WANTS[want], reason)
        return
    if job.want != "cancel":  # a cancel is not softened into a stop or pause
        job.want, job.reason = want, reason
    session.flush()


def pause(session: Session, job: Job, reason: str) -> None:
    """Pause `job` at the end of its current epoch (billing's rule); it can be resumed later.

    Called by billing inside its own transaction: this flushes and does not commit."""
    request_end(session, job, "pause", reason)


def stop_wanted(session: Session, model: Model) -> bool:
    """Whether the model's worker should stop now (the streaming service replies `stop` when True)."""
    job = find_job(session, model)
    return job is not None and (job.want is not None or job.state in ENDED)


def resume(session: Session, job: Job, reason: str = "resumed by the user") -> None:
    """Queue a stopped or paused job again (the start gate is checked by the caller: it needs the catalog)."""
    if job.state not in RESUMABLE:
        raise Conflict(
            f"only a stopped or paused job can be resumed; the job of model {job.model.name!r} is {job.state}"
        )
    job.restarts = 0
    transition(session, job, QUEUED, reason)


def quota_of(session: Session, user_id: int, default: int) -> int:
    """How many jobs `user_id` may run at once."""
    row = session.get(JobQuota, user_id)
    return default if row is None else row.max_running


def set_quota(session: Session, user_id: int, max_running: int) -> None:
    row = session.get(JobQuota, user_id)
    if row is None:
        session.add(JobQuota(user_id=user_id, max_running=max_running))
    else:
        row.max_running = max_running
    session.commit()


def queue_position(session: Session, job: Job) -> int | None:
    """1 for the next job of its GPU type to start, 2 for the one after...; None when it is not waiting."""
    if job.state not in WAITING:
        return None
    ahead = session.scalar(
        select(func.count())
        .select_from(Job)
        .where(
            Job.state.in_(WAITING),
            Job.gpu_type == job.gpu_type,
            (Job.queued_at < job.queued_at) | ((Job.queued_at == job.queued_at) & (Job.id < job.id)),
        )
    )
    return (ahead or 0) + 1
