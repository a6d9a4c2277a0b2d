"""Ingestion of streamed runs: store each (run, seq) once, apply its effect on the model, log it for live views.

`ingest_batch` serves the native protocol (yoloforge/remote/protocol.py); the Ultralytics endpoints
(platform/compat/) call `apply_events` with the same event kinds. Effects per kind:

    start       the model runs (its settings are kept from the first start); run hook `start`
    epoch       one MetricRow per (model, epoch), the first one wins; best_metrics follow the best fitness;
                run hook `epoch`
    checkpoint  the announced upload becomes the model's checkpoint of that kind (sha256 and size kept)
    end         the run and model end as completed, failed or stopped (final metrics kept); run hook `end`
    console, system, progress   logged only (the console, system and SSE views read the log)

Everything of one batch happens in one transaction; subscribers are woken after it commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.orm import Session, defer, joinedload

from yoloforge.platform.db import MetricRow, Model, ModelEvent, Project, Run, utcnow
from yoloforge.platform.services import run_hooks, stream_runs
from yoloforge.platform.services.errors import Invalid, NotFound
from yoloforge.platform.services.events import append_events
from yoloforge.platform.services.ingest_uploads import commit_upload, find_upload
from yoloforge.platform.services.principal import Principal
from yoloforge.remote.protocol import END_STATUSES, BatchReply, EventBatch

Row = tuple[int, str, float, dict[str, Any]]  # (seq, kind, client time, data)


@dataclass
class Sinks:
    """Where an ingestion writes besides the database: storage and the server's scratch folder."""

    storage: Any
    scratch: Any


# the run's model, project and owner in the run's query: each is read for every batch (access check, reply). The
# model's JSON columns (its ~100 settings, best and final metrics) are loaded only when read: a batch of progress
# or console lines never reads them, and decoding them was a good part of such a batch's cost.
_WITH_OWNER = joinedload(Run.model).options(
    defer(Model.settings),
    defer(Model.best_metrics),
    defer(Model.final_metrics),
    joinedload(Model.project).joinedload(Project.owner),
)

# Statements of every batch, built once: building a statement anew each time (coercing its clauses, computing
# its cache key) cost more than running it (~0.4 ms a batch, cProfile).
_RUN_BY_KEY = select(Run).where(Run.key == bindparam("key")).options(_WITH_OWNER)
_STORED_SEQS = select(ModelEvent.seq).where(
    ModelEvent.run_id == bindparam("run_id"), ModelEvent.seq.in_(bindparam("seqs", expanding=True))
)


def ingest_batch(session: Session, sinks: Sinks, principal: Principal, run_key: str, batch: EventBatch) -> BatchReply:
    """Store a native batch (see the module docstring); the reply acknowledges every seq of it. Commits."""
    run = session.scalar(_RUN_BY_KEY, {"key": run_key})
    if run is None:
        run = _start_run(session, principal, run_key, batch)
    else:
        stream_runs.owned_run(session, principal, run)
    model = run.model
    rows = [(e.seq, e.kind, e.time, e.data) for e in batch.events]
    apply_events(session, sinks, run, model, rows)
    session.commit()
    owner = model.project.owner.name
    return BatchReply(acked=[e.seq for e in batch.events], model_id=model.id, model=model.name,
                      url=f"/{owner}/{model.project.name}/models/{model.name}",
                      command=stream_runs.command(session, run))  # fmt: skip


def _start_run(session: Session, principal: Principal, run_key: str, batch: EventBatch) -> Run:
    start = next((e for e in batch.events if e.kind == "start"), None)
    if start is None:
        raise NotFound(f"run {run_key} is unknown: its start event must come first")
    owner, project_name = batch.project.split("/")
    project = stream_runs.project_for(session, principal, owner, project_name)
    model_id = start.data.get("model_id")
    if model_id is not None and not isinstance(model_id, int):
        raise Invalid("start event: model_id must be an integer", field="model_id")
    model = stream_runs.model_for_start(session, principal, project, batch.model, model_id, source="remote")
    return stream_runs.new_run(session, model, run_key, "native")


def apply_events(session: Session, sinks: Sinks, run: Run, model: Model, rows: list[Row]) -> list[int]:
    """Apply the events not stored yet (in seq order) and append them to the model's log; returns their seqs."""
    now = utcnow()
    seqs = [r[0] for r in rows]
    stored = set(session.scalars(_STORED_SEQS, {"run_id": run.id, "seqs": seqs}))
    fresh, seen = [], set(stored)
    for row in sorted(rows, key=lambda r: r[0]):
        if row[0] not in seen:
            seen.add(row[0])
            fresh.append(row)
    stream_runs.touch(session, run, model, now)
    epochs = [d["epoch"] for _, k, _, d in fresh if k == "epoch" and isinstance(d.get("epoch"), int)]
    if epochs:  # which of this batch's epochs are stored already: one query
        q = select(MetricRow.epoch).where(MetricRow.model_id == model.id, MetricRow.epoch.in_(epochs))
        session.info[("epochs", model.id)] = set(session.scalars(q))
    for _, kind, _, data in fresh:
        _APPLY.get(kind, _log_only)(session, sinks, run, model, data, now)
    if rows := session.info.pop("new_metric_rows", None):
        session.execute(insert(MetricRow), rows)
    append_events(session, model.id, run.id, fresh, run.key)
    return [r[0] for r in fresh]


def _log_only(*_: Any) -> None:
    pass


def _start(session: Session, sinks: Sinks, run: Run, model: Model, data: dict, now: dt.datetime) -> None:
    if not model.settings and isinstance(data.get("settings"), dict):
        model.settings = data["settings"]
    stream_runs.set_status(session, run, model, "running", now)
    run_hooks.emit(session, model, run_hooks.RunEvent("start", run, now, data=data))


def _epoch(session: Session, sinks: Sinks, run: Run, model: Model, data: dict, now: dt.datetime) -> None:
    epoch, metrics = data.get("epoch"), data.get("metrics")
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(metrics, dict):
        raise Invalid("epoch event: data needs 'epoch' (int >= 0) and 'metrics' (object)", field="data")
    record_epoch(session, model, epoch, metrics)
    run_hooks.emit(session, model, run_hooks.RunEvent("epoch", run, now, epoch=epoch, data=data))


def record_epoch(session: Session, model: Model, epoch: int, metrics: dict[str, Any]) -> bool:
    """Store an epoch's metrics unless that epoch is stored already; best_metrics follow the best fitness.

    `apply_events` reads which of a batch's epochs are stored in one query and inserts the new rows together
    (one multi-row INSERT)."""
    known = session.info.setdefault(("epochs", model.id), None)
    if known is None:
        known = set(session.scalars(select(MetricRow.epoch).where(MetricRow.model_id == model.id)))
        session.info[("epochs", model.id)] = known
    if epoch in known:
        return False
    known.add(epoch)
    rows = session.info.setdefault("new_metric_rows", [])
    rows.append({"model_id": model.id, "epoch": epoch, "metrics": metrics, "created_at": utcnow()})
    fitness, best = metrics.get("fitness"), metrics.get("best_fitness")
    if isinstance(fitness, int | float) and (best is None or fitness >= best):
        model.best_metrics = {**metrics, "epoch": epoch}
    return True


def _checkpoint(session: Session, sinks: Sinks, run: Run, model: Model, data: dict, now: dt.datetime) -> None:
    token, kind = data.get("upload"), data.get("kind")
    if not isinstance(token, str) or kind not in ("last", "best"):
        raise Invalid("checkpoint event: data needs 'upload' (a token) and 'kind' (last or best)", field="data")
    upload = find_upload(session, token)
    if upload.run_id != run.id:
        raise NotFound("upload not found: announce it again")
    epoch = data.get("epoch") if isinstance(data.get("epoch"), int) else None
    commit_upload(session, sinks.storage, sinks.scratch, model, upload, kind=kind, epoch=epoch)


def _end(session: Session, sinks: Sinks, run: Run, model: Model, data: dict, now: dt.datetime) -> None:
    status = data.get("status")
    if status not in END_STATUSES:
        raise Invalid(f"end event: status must be one of {', '.join(END_STATUSES)}", field="status")
    stream_runs.set_status(session, run, model, status, now)
    if isinstance(data.get("final_metrics"), dict) and data["final_metrics"]:
        model.final_metrics = data["final_metrics"]
    run_hooks.emit(session, model, run_hooks.RunEvent("end", run, now, status=status, data=data))


_APPLY = {"start": _start, "epoch": _epoch, "checkpoint": _checkpoint, "end": _end}


def start_hash(body: dict[str, Any]) -> str:
    """A digest of a start request's body: a retried start is recognised by it."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def publish_after_commit(session: Session, broadcaster: Any) -> None:
    """Wake the subscribers of the models this session wrote events for (call after commit)."""
    messages = session.info.pop("publish", None)
    if messages:
        broadcaster.publish(messages)
