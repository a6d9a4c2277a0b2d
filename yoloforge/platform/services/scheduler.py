"""Placing queued jobs on executor pools, one database transaction per placement, and following them.

A placement starts by updating the single `scheduler_lock` row: a row lock on PostgreSQL, the database's write
lock on SQLite. Everything it then reads (slots used per pool, jobs running per account) is current and nobody
else places meanwhile, so 50 submissions at once never start more jobs than the quotas and pools allow, and no
job starts twice. The worker is launched after the commit; the job is then `starting`.

`JobRunner` does the rest on a background thread of the server (started and stopped with the app): place
waiting jobs (FIFO per GPU type), poll the workers, send the graceful stop a user or billing asked for, detect
dead or silent workers and restart them from last.pt up to `max_restarts`, deliver notifications.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import func, insert, select, true, update
from sqlalchemy.orm import Session

from yoloforge.platform.db import Job, JobQuota, SchedulerLock, utcnow
from yoloforge.platform.gpus import Catalog
from yoloforge.platform.services import jobs
from yoloforge.platform.services.job_tokens import create_for_job
from yoloforge.utils.log import LOGGER


def lock(session: Session) -> None:
    """Take the placement lock for the rest of this transaction (must be its first statement)."""
    done = session.execute(update(SchedulerLock).where(SchedulerLock.id == 1)
                           .values(placements=SchedulerLock.placements + 1))  # fmt: skip
    if done.rowcount == 0:  # a database created before the row existed
        session.execute(insert(SchedulerLock).values(id=1, placements=1))


def _counts(session: Session, column: Any) -> dict[Any, int]:
    rows = session.execute(select(column, func.count()).where(Job.state.in_(jobs.ACTIVE)).group_by(column))
    return {k: n for k, n in rows}


def place_one(session: Session, catalog: Catalog, default_quota: int) -> tuple[Job, str] | None:
    """Start the first waiting job that fits a free slot and its account's quota, in this session's transaction.

    Returns (the job, now `starting`, and its worker's new token) or None; the caller commits."""
    lock(session)
    used = _counts(session, Job.pool)
    free = {t.name: p for t in catalog.types if (p := catalog.pool_of(t)) and used.get(p.name, 0) < p.slots}
    if not free:
        return None
    running = _counts(session, Job.user_id)
    quotas = dict(session.execute(select(JobQuota.user_id, JobQuota.max_running)).all())
    blocked = {u for u, n in running.items() if n >= quotas.get(u, default_quota)}
    blocked |= {u for u, q in quotas.items() if q <= running.get(u, 0)}
    if default_quota <= 0:
        query_users = Job.user_id.in_([u for u, q in quotas.items() if q > running.get(u, 0)])
    else:
        query_users = Job.user_id.not_in(blocked) if blocked else true()
    job = session.scalar(
        select(Job)
        .where(Job.state.in_(jobs.WAITING), Job.gpu_type.in_(list(free)), query_users)
        .order_by(Job.queued_at, Job.id)
        .limit(1)
    )
    if job is None:
        return None
    pool = free[job.gpu_type]
    job.pool, job.executor, job.handle = pool.name, pool.executor, None
    job.device = _free_device(session, pool.name, pool.devices)
    job.attempt += 1
    jobs.transition(session, job, jobs.STARTING, f"placed on pool {pool.name} (attempt {job.attempt})")
    return job, create_for_job(session, job)


def _free_device(session: Session, pool: str, devices: list[str]) -> str | None:
    if not devices:
        return None
    taken = set(session.scalars(select(Job.device).where(Job.pool == pool, Job.state.in_(jobs.ACTIVE))))
    return next((d for d in devices if d not in taken), None)


class JobRunner:
    """The scheduler loop of one server: placement, polling, stops, restarts (see the module docstring)."""

    def __init__(self, state: Any) -> None:
        from yoloforge.platform.executors.local import LocalExecutor
        from yoloforge.platform.services.exports import ExportRunner

        self.state = state
        self.exports = ExportRunner(state)
        self.settings = state.settings
        self.catalog: Catalog = state.catalog
        self.executors: dict[str, Any] = {"local": LocalExecutor()}
        from yoloforge.platform.services import job_runs

        # with the streaming service, heartbeats are the run's events; without it, a live worker process
        self.heartbeat_from_process = not job_runs.register()
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one pass at a time (the loop, and routes that poke it)

    def executor(self, name: str) -> Any:
        if name not in self.executors and name == "ray":
            from yoloforge.platform.executors.ray import RayExecutor

            self.executors["ray"] = RayExecutor(self.settings.ray_address)
        return self.executors[name]

    # --- the loop ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="yoloforge-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """End the loop (the workers keep running: a restarted server attaches to them)."""
        self._halt.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def poke(self) -> None:
        """Run a pass now (after a submission, stop or resume)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._halt.is_set():
            try:
                self.tick()
            except Exception:
                LOGGER.exception("scheduler pass failed; retrying in %.1f s", self.settings.scheduler_interval)
            self._wake.wait(self.settings.scheduler_interval)
            self._wake.clear()

    def tick(self) -> None:
        """One pass: follow the running workers, place what fits, send due notifications."""
        from yoloforge.platform.services import notifications

        with self._lock:
            self.poll_all()
            self.place_all()
            self.exports.tick()
            notifications.deliver_due(self.state)

    # --- placement ---------------------------------------------------------------------------------------------
    def place_all(self, limit: int = 1000) -> int:
        """Place waiting jobs until none fits; returns how many started."""
        with self.state.db.sessions() as session:  # a read first: the placement lock is a write, not for nothing
            if session.scalar(select(Job.id).where(Job.state.in_(jobs.WAITING)).limit(1)) is None:
                return 0
        placed = 0
        while placed < limit and self.place_next() is not None:
            placed += 1
        return placed

    def place_next(self) -> int | None:
        """Place one job and launch its worker; returns its id (None when nothing fits)."""
        with self.state.db.sessions() as session:
            found = place_one(session, self.catalog, self.settings.default_job_quota)
            if found is None:
                session.rollback()
                return None
            job, token = found
            session.commit()
            self.launch(session, job, token)
            return job.id

    def launch(self, session: Session, job: Job, token: str) -> None:
        """Start the worker of a `starting` job (a failure to start fails the job with the reason)."""
        from yoloforge.platform.services.job_submit import worker_spec

        try:
            spec = worker_spec(self.state, job, token)
            handle = self.executor(job.executor or "local").submit(spec)
        except Exception as e:
            LOGGER.exception("job %d: the worker did not start", job.id)
            jobs.transition(session, job, jobs.FAILED, f"the worker did not start: {e}")
            session.commit()
            return
        job.handle = handle
        session.commit()

    # --- following workers -------------------------------------------------------------------------------------
    def poll_all(self) -> None:
        with self.state.db.sessions() as session:
            ids = list(session.scalars(select(Job.id).where(Job.state.in_(jobs.ACTIVE))))
        for job_id in ids:
            try:
                self.poll_job(job_id)
            except Exception:
                LOGGER.exception("job %d: poll failed", job_id)

    def poll_job(self, job_id: int) -> None:
        from yoloforge.platform.services.job_progress import follow

        with self.state.db.sessions() as session:
            job = session.get(Job, job_id)
            if job is None or job.state not in jobs.ACTIVE:
                return
            if job.handle is None:
                if (utcnow() - (job.started_at or utcnow())).total_seconds() > 120:
                    self._worker_lost(session, job, "the worker never reported its start")
                    session.commit()
                return
            follow(self, session, job)
            session.commit()

    def _worker_lost(self, session: Session, job: Job, why: str) -> None:
        """A worker that died or went silent: restart it from last.pt, or fail after max_restarts."""
        if job.restarts < job.max_restarts:
            job.restarts += 1
            jobs.transition(session, job, jobs.RETRYING, f"{why}; restart {job.restarts} of {job.max_restarts}")
        else:
            jobs.transition(session, job, jobs.FAILED, f"{why}; gave up after {job.max_restarts} restarts")


def wait_for(predicate: Any, timeout: float, interval: float = 0.1) -> bool:
    """Poll `predicate()` until true or `timeout` seconds pass (used by the CLI and bench)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
