"""Exports of a model (onnx, torchscript, openvino): request one, list them, download a finished one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy import select

from yoloforge.platform.api.deps import CurrentUser, SessionDep, StateDep, needs
from yoloforge.platform.api.downloads import DOWNLOAD_RESPONSES, object_response
from yoloforge.platform.api.params import ModelPath, OwnerPath, ProjectPath
from yoloforge.platform.db import Export
from yoloforge.platform.schemas.exports import ExportCreate, ExportPublic
from yoloforge.platform.services import exports
from yoloforge.platform.services.errors import Conflict
from yoloforge.platform.services.models import find_model

router = APIRouter(prefix="/projects/{owner}/{project}/models/{name}/exports", tags=["exports"])
ExportId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The export's id.")]


def _public(row: Export, base: str) -> ExportPublic:
    out = ExportPublic.model_validate(row)
    if row.status == "completed":
        out.download_url = f"{base}/{row.id}/download"
    return out


@router.post("", status_code=202, **needs("train"))
def create_export(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, body: ExportCreate, principal: CurrentUser,
    session: SessionDep, state: StateDep,
) -> ExportPublic:  # fmt: skip
    """Export the model's checkpoint; it runs on a CPU slot of the server (see `status`)."""
    model = find_model(session, principal, owner, project, name, write=True)
    row = exports.create(session, model, body.format, body.checkpoint)
    if state.runner is not None:
        state.runner.poke()
    return _public(row, f"/api/v1/projects/{owner}/{project}/models/{name}/exports")


@router.get("", **needs("read"))
def list_exports(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep
) -> list[ExportPublic]:
    """The model's exports, newest first, with their sha256 and download links."""
    model = find_model(session, principal, owner, project, name)
    rows = session.scalars(select(Export).where(Export.model_id == model.id).order_by(Export.id.desc()))
    base = f"/api/v1/projects/{owner}/{project}/models/{name}/exports"
    return [_public(r, base) for r in rows]


@router.get("/{export_id}/download", responses=DOWNLOAD_RESPONSES, response_model=None, **needs("read"))
def download_export(
    request: Request, owner: OwnerPath, project: ProjectPath, name: ModelPath, export_id: ExportId,
    principal: CurrentUser, session: SessionDep, state: StateDep,
) -> Response:  # fmt: skip
    """The exported file, with its SHA-256 in `X-Checksum-SHA256`; `Range` resumes a download."""
    model = find_model(session, principal, owner, project, name)
    row = exports.find(session, model, export_id)
    if row.status != "completed" or row.storage_key is None:
        raise Conflict(f"export {export_id} is {row.status}: download it once it is completed")
    return object_response(request, state.storage, row.storage_key, size=row.size or 0, sha256=row.sha256 or "",
                           filename=row.filename or "export", media_type="application/octet-stream")  # fmt: skip
