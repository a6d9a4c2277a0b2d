"""Models (training runs) of a project: read, delete, and the writes the streaming and jobs services use
(create, record an epoch's metrics, store a checkpoint)."""

from __future__ import annotations

import re
import uuid
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yoloforge.platform.db import Checkpoint, MetricRow, Model, Project
from yoloforge.platform.services.accounts import check_name
from yoloforge.platform.services.errors import Conflict, Invalid, NotFound
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.services.projects import find_project
from yoloforge.platform.services.storage import Storage

SOURCES = ("cloud", "remote")
STATUSES = ("pending", "running", "completed", "failed", "stopped", "lost")
CHECKPOINT_KIND = re.compile(r"^(last|best|final|epoch\d{1,6})$")


def find_model(
    session: Session, principal: Principal, owner: str, project: str, name: str, *, write: bool = False
) -> Model:
    """Model `name` of project `owner/project` as `principal` may see it; NotFound otherwise."""
    proj = find_project(session, principal, owner, project, write=write)
    model = session.scalar(select(Model).where(Model.project_id == proj.id, Model.name == name))
    if model is None:
        raise NotFound(f"model {name!r} not found in project {owner}/{project}")
    return model


def epochs_done(session: Session, model_ids: list[int]) -> dict[int, int]:
    """How many epochs have metrics, per model."""
    if not model_ids:
        return {}
    rows = session.execute(
        select(MetricRow.model_id, func.count()).where(MetricRow.model_id.in_(model_ids)).group_by(MetricRow.model_id)
    )
    return {mid: n for mid, n in rows}


def list_models(
    session: Session, principal: Principal, owner: str, project: str, *, limit: int, offset: int
) -> tuple[list[Model], int]:
    """The project's models, newest first, and their count."""
    proj = find_project(session, principal, owner, project)
    where = Model.project_id == proj.id
    total = session.scalar(select(func.count()).select_from(Model).where(where)) or 0
    rows = session.scalars(select(Model).where(where).order_by(Model.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def create_model(
    session: Session,
    project: Project,
    name: str,
    *,
    source: str,
    status: str = "pending",
    settings: dict[str, Any] | None = None,
    dataset_version_id: int | None = None,
) -> Model:
    """A new model in `project`; Conflict when the name is taken there."""
    check_name(name)
    if source not in SOURCES:
        raise Invalid(f"source {source!r} must be one of {', '.join(SOURCES)}", field="source")
    if status not in STATUSES:
        raise Invalid(f"status {status!r} must be one of {', '.join(STATUSES)}", field="status")
    model = Model(
        project_id=project.id,
        name=name,
        source=source,
        status=status,
        settings=settings or {},
        dataset_version_id=dataset_version_id,
    )
    session.add(model)
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise Conflict(f"project already has a model named {name!r}", field="name") from e
    return model


def record_epoch(session: Session, model: Model, epoch: int, metrics: dict[str, Any]) -> MetricRow:
    """Store one epoch's metrics; an epoch already stored is kept as it was (replays are harmless)."""
    row = session.scalar(select(MetricRow).where(MetricRow.model_id == model.id, MetricRow.epoch == epoch))
    if row is None:
        row = MetricRow(model_id=model.id, epoch=epoch, metrics=metrics)
        session.add(row)
        session.commit()
    return row


def store_checkpoint(
    session: Session, storage: Storage, model: Model, kind: str, src: IO[bytes], *, epoch: int | None = None
) -> Checkpoint:
    """Store a weights file as the model's `kind` checkpoint (replacing an older one of that kind)."""
    if not CHECKPOINT_KIND.match(kind):
        raise Invalid(f"checkpoint kind {kind!r} must be last, best, final or epochN", field="kind")
    stored = storage.put_stream(f"models/{model.id}/checkpoints/{kind}-{uuid.uuid4().hex}.pt", src)
    old = session.scalar(select(Checkpoint).where(Checkpoint.model_id == model.id, Checkpoint.kind == kind))
    old_key = old.storage_key if old else None
    if old is not None:
        session.delete(old)
        session.flush()
    row = Checkpoint(
        model_id=model.id, kind=kind, epoch=epoch, storage_key=stored.key, size=stored.size, sha256=stored.sha256
    )
    session.add(row)
    session.commit()
    if old_key:
        storage.delete(old_key)
    return row


def find_checkpoint(model: Model, kind: str) -> Checkpoint:
    for ckpt in model.checkpoints:
        if ckpt.kind == kind:
            return ckpt
    kinds = ", ".join(c.kind for c in model.checkpoints) or "none yet"
    raise NotFound(f"model {model.name!r} has no {kind!r} checkpoint (it has: {kinds})")


def delete_model(session: Session, storage: Storage, principal: Principal, owner: str, project: str, name: str) -> None:
    """Delete the model, its metric rows, checkpoints and stored files."""
    model = find_model(session, principal, owner, project, name, write=True)
    model_id = model.id
    session.delete(model)
    session.commit()
    storage.delete_prefix(f"models/{model_id}")
