"""Models (training runs) of a project: list, read (settings, status, metrics so far, checkpoints),
download a checkpoint, delete. They are created by remote training and cloud jobs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from yoloforge.platform.api.deps import (
    LINK_OR_READ,
    CurrentUser,
    LinkToken,
    OptionalUser,
    PageDep,
    SessionDep,
    StateDep,
    key_or_link,
    needs,
)
from yoloforge.platform.api.downloads import DOWNLOAD_RESPONSES, object_response
from yoloforge.platform.api.params import CheckpointKind, ModelPath, OwnerPath, ProjectPath
from yoloforge.platform.db import Model
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.schemas.models import CheckpointPublic, MetricRowPublic, ModelPublic, ModelSummary
from yoloforge.platform.services import models
from yoloforge.platform.services.errors import Unauthorized
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.state import PlatformState

router = APIRouter(prefix="/projects/{owner}/{project}/models", tags=["models"])


_SUMMARY = ("name", "source", "status", "created_at", "started_at", "ended_at", "best_metrics")


def _summary(m: Model, epochs: int) -> dict[str, Any]:
    planned = m.settings.get("epochs") if isinstance(m.settings, dict) else None
    return {
        **{k: getattr(m, k) for k in _SUMMARY},
        "epochs_done": epochs,
        "epochs": planned if isinstance(planned, int) else None,
    }


def model_public(m: Model, principal: Principal, state: PlatformState) -> ModelPublic:
    base = f"/api/v1/projects/{m.project.owner.name}/{m.project.name}/models/{m.name}/checkpoints"
    checkpoints = [
        CheckpointPublic(
            kind=c.kind,
            epoch=c.epoch,
            size=c.size,
            sha256=c.sha256,
            created_at=c.created_at,
            download_url=f"{base}/{c.kind}?token={state.links.sign(principal.user.id, 'checkpoint', c.id)}",
        )
        for c in m.checkpoints
    ]
    return ModelPublic(
        **_summary(m, len(m.metrics)),
        owner=m.project.owner.name,
        project=m.project.name,
        settings=m.settings,
        final_metrics=m.final_metrics,
        metrics=[MetricRowPublic.model_validate(r) for r in m.metrics],
        checkpoints=checkpoints,
    )


@router.get("", **needs("read"))
def list_models(
    owner: OwnerPath, project: ProjectPath, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[ModelSummary]:
    """The project's models, newest first."""
    rows, total = models.list_models(session, principal, owner, project, limit=page.limit, offset=page.offset)
    done = models.epochs_done(session, [m.id for m in rows])
    items = [ModelSummary.model_validate(_summary(m, done.get(m.id, 0))) for m in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{name}", **needs("read"))
def get_model(
    owner: OwnerPath,
    project: ProjectPath,
    name: ModelPath,
    principal: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> ModelPublic:
    """The model's settings, status, every epoch's metrics so far, and its checkpoints with download links."""
    return model_public(models.find_model(session, principal, owner, project, name), principal, state)


@router.delete("/{name}", status_code=204, **needs("train"))
def delete_model(
    owner: OwnerPath,
    project: ProjectPath,
    name: ModelPath,
    principal: CurrentUser,
    session: SessionDep,
    state: StateDep,
) -> None:
    """Delete the model with its metrics, checkpoints and their files."""
    models.delete_model(session, state.storage, principal, owner, project, name)


@router.get("/{name}/checkpoints/{kind}", responses=DOWNLOAD_RESPONSES, response_model=None, **LINK_OR_READ)
def download_checkpoint(
    request: Request,
    owner: OwnerPath,
    project: ProjectPath,
    name: ModelPath,
    kind: CheckpointKind,
    principal: OptionalUser,
    session: SessionDep,
    state: StateDep,
    token: LinkToken = None,
) -> Response:
    """The checkpoint file, with its SHA-256 in `X-Checksum-SHA256`; `Range` resumes a download."""
    principal, row_id = key_or_link(principal, token, session, state, "checkpoint")
    model = models.find_model(session, principal, owner, project, name)
    ckpt = models.find_checkpoint(model, kind)
    if row_id is not None and row_id != ckpt.id:
        raise Unauthorized("download link is for another checkpoint")
    filename = f"{model.name}-{ckpt.kind}.pt"
    return object_response(
        request, state.storage, ckpt.storage_key, size=ckpt.size, sha256=ckpt.sha256, filename=filename,
        media_type="application/octet-stream",
    )  # fmt: skip
