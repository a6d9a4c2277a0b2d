"""Runs of models: which model a streaming process belongs to, the model's status, heartbeats, lost runs, stop.

Status of a model streamed into: `running` from a run's start (also when it was `lost` or `stopped` before: a
resumed or returning run continues), `completed`, `failed` or `stopped` from its end event, `lost` when no
word came for the server's `lost_after_seconds` (`mark_lost`, run periodically by the app).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, Project, Run, utcnow
from yoloforge.platform.services import run_hooks
from yoloforge.platform.services.access import check_access
from yoloforge.platform.services.errors import Forbidden, NotFound
from yoloforge.platform.services.events import append_events
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.services.projects import find_project

LIVE = ("running", "lost")


def owned_run(session: Session, principal: Principal, run: Run | None) -> Run:
    """`run` when `principal` may write to its model; NotFound otherwise (as for a missing one)."""
    if run is None:
        raise NotFound("run not found: send its start event first")
    check_access(principal, run.model.project, "run", write=True)
    return run


def find_run(session: Session, principal: Principal, key: str) -> Run:
    return owned_run(session, principal, session.scalar(select(Run).where(Run.key == key)))


def project_for(session: Session, principal: Principal, owner: str, name: str) -> Project:
    """Project `owner/name` for writing; the caller's own project is created (private) when missing."""
    try:
        return find_project(session, principal, owner, name, write=True)
    except NotFound:
        if owner != principal.user.name:
            raise
    from yoloforge.platform.services.accounts import check_name

    check_name(name)
    project = Project(owner_id=principal.user.id, name=name)
    session.add(project)
    session.flush()
    return project


def model_for_start(
    session: Session, principal: Principal, project: Project, name: str, model_id: int | None, *, source: str
) -> Model:
    """The model a new run streams into.

    With `model_id` (a resume, or a job's worker): that model, if the caller may write to it (NotFound
    otherwise). Without: the project's model `name` when it is `pending` (made by a job, not started yet),
    else a new model `name`, or `name-2`, `name-3` ... when taken. A job's token may stream only into its job's
    model (Forbidden otherwise).
    """
    bound = principal.bound_model_id
    if bound is not None and model_id != bound:  # a job's token streams into its own model, nothing else
        raise Forbidden(f"this key belongs to the training job of model {bound} and may only stream into it")
    if model_id is not None:
        model = session.get(Model, model_id)
        if model is None:
            raise NotFound(f"model {model_id} not found (it was deleted, or belongs to another account)")
        check_access(principal, model.project, f"model {model_id}", write=True)
        return model
    taken = set(session.scalars(select(Model.name).where(Model.project_id == project.id, Model.name.like(f"{name}%"))))
    existing = session.scalar(select(Model).where(Model.project_id == project.id, Model.name == name))
    if existing is not None and existing.status == "pending":
        return existing
    final, n = name, 1
    while final in taken:
        n += 1
        final = f"{name[: 64 - len(str(n)) - 1]}-{n}"
    model = Model(project_id=project.id, name=final, source=source, status="running", settings={})
    session.add(model)
    session.flush()
    return model


def new_run(session: Session, model: Model, key: str, protocol: str, start_hash: str | None = None) -> Run:
    run = Run(key=key, model_id=model.id, protocol=protocol, status="running", start_hash=start_hash)
    session.add(run)
    session.flush()
    return run


def set_status(session: Session, run: Run, model: Model, status: str, now: dt.datetime) -> None:
    """Record a run's (and its model's) new status; an ending status stamps `ended_at`."""
    run.status = status
    if status in ("completed", "failed", "stopped"):
        run.ended_at = now
        model.ended_at = now
    elif status == "running":
        model.ended_at = None
        if model.started_at is None:
            model.started_at = now
    model.status = status


def touch(session: Session, run: Run, model: Model, now: dt.datetime) -> None:
    """The run is alive: a lost run runs again; the heartbeat hook fires at most every HEARTBEAT_SECONDS."""
    if run.status == "lost":
        set_status(session, run, model, "running", now)
        append_events(session, model.id, None, [(0, "status", now.timestamp(), {"status": "running"})])
    if (now - run.last_seen_at).total_seconds() >= run_hooks.HEARTBEAT_SECONDS:
        run_hooks.emit(session, model, run_hooks.RunEvent("heartbeat", run, now))
    run.last_seen_at = now


def command(session: Session, run: Run) -> str | None:
    """The command for a run's next reply ('stop' or None)."""
    if run.status not in LIVE:
        return None
    return run_hooks.command_for(session, run.model, run)


def request_stop(session: Session, model: Model) -> bool:
    """Ask the model's live run to stop (its next reply or poll says `stop`); False when none is live. Commits."""
    runs = list(session.scalars(select(Run).where(Run.model_id == model.id, Run.status.in_(LIVE))))
    for run in runs:
        run.stop_requested = True
    session.commit()
    return bool(runs)


def mark_lost(session: Session, after_seconds: float, now: dt.datetime | None = None) -> list[int]:
    """Runs silent for `after_seconds` become `lost` (with their model); returns the models changed. Commits."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=after_seconds)
    runs = list(session.scalars(select(Run).where(Run.status == "running", Run.last_seen_at < cutoff)))
    changed = []
    for run in runs:
        model = run.model
        run.status = "lost"
        if model.status == "running":
            model.status = "lost"
        append_events(session, model.id, None, [(0, "status", now.timestamp(), {"status": "lost"})])
        run_hooks.emit(session, model, run_hooks.RunEvent("lost", run, now))
        changed.append(model.id)
    session.commit()
    return changed
