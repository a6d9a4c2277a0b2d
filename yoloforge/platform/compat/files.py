"""Ultralytics' read endpoints: the account summary (`yolo login`) and a model's weights (`ul://owner/project/model`).

Dataset export (`ul://owner/datasets/name`) is served by datasets.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from yoloforge.platform.api.deps import SessionDep, StateDep
from yoloforge.platform.compat.auth import base_url, error_reply, principal_of
from yoloforge.platform.schemas.common import NAME_PATTERN
from yoloforge.platform.services import models
from yoloforge.platform.services.errors import ServiceError

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]


@router.get("/api/account/summary")
def account_summary(request: Request, session: SessionDep) -> JSONResponse:
    """Who the key belongs to (the client only needs a 2xx to store the key)."""
    try:
        principal = principal_of(request, session, scope="read")
    except ServiceError as e:
        return error_reply(e)
    user = principal.user
    return JSONResponse({"username": user.name, "name": user.name, "accountType": "personal", "plan": "self-hosted",
                         "creditsCents": 0, "counts": {}, "teams": []})  # fmt: skip


@router.get("/api/models/{owner}/{project}/{name}/files")
def model_files(request: Request, owner: Name, project: Name, name: Name, session: SessionDep,
                state: StateDep) -> JSONResponse:  # fmt: skip
    """The model's weights, best first, each with a signed download URL (no key needed to fetch it)."""
    try:
        principal = principal_of(request, session, scope="read")
        model = models.find_model(session, principal, owner, project, name)
    except ServiceError as e:
        return error_reply(e)
    order = {"best": 0, "final": 1, "last": 2}
    files = []
    for c in sorted(model.checkpoints, key=lambda c: (order.get(c.kind, 3), c.kind)):
        token = state.links.sign(principal.user.id, "checkpoint", c.id)
        url = f"{base_url(request)}/api/v1/projects/{owner}/{project}/models/{name}/checkpoints/{c.kind}?token={token}"
        files.append({"name": f"{c.kind}.pt", "size": c.size, "sha256": c.sha256, "downloadUrl": url})
    return JSONResponse({"files": files})
