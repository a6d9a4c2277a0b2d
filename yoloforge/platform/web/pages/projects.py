"""Projects: the list with a create form, and a project's page (its models and how to train into it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api
from yoloforge.platform.web.render import page

router = APIRouter()
MODELS_PER_PAGE = 100
RESERVED = {"api", "static", "docs", "redoc", "openapi.json", "login", "logout", "projects", "datasets"}
ACTIVE = {"queued", "starting", "downloading", "running", "retrying", "pending"}
MAP = "metrics/mAP50-95(B)"


@router.get("/projects")
async def projects_page(request: Request) -> Response:
    """Your projects and the public ones, and a form to create one."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        return {"projects": await api.get("/projects", limit=200), "title": "Projects"}

    return await page(request, "projects.html", load)


def train_command(base_url: str, owner: str, project: str, dataset: str) -> str:
    """The shell command that trains on the user's own machine and streams into `owner/project`."""
    return (
        f"YOLOFORGE_PLATFORM_URL={base_url} YOLOFORGE_API_KEY=<your API key> \\\n"
        f"  yoloforge detect train model=yolo11n.pt data={dataset} epochs=100 imgsz=640 \\\n"
        f"  project={owner}/{project} name=exp1"
    )


def model_rows(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The table's columns from each model summary (mAP50-95 from best_metrics, epoch x/y, active or not)."""
    rows = []
    for m in models:
        best = m.get("best_metrics") or {}
        rows.append(
            {
                **m,
                "map": best.get(MAP),
                "epochs_total": m.get("epochs"),
                "active": m.get("status") in ACTIVE,
            }
        )
    return rows


async def _project(api: Api, owner: str, project: str, offset: int) -> dict[str, Any]:
    info = await api.get(f"/projects/{owner}/{project}")
    models = await api.get(f"/projects/{owner}/{project}/models", limit=MODELS_PER_PAGE, offset=offset)
    return {"project": info, "models": models, "rows": model_rows(models["items"])}


def check_owner(owner: str) -> None:
    """404 for paths that are not an owner (/api/..., /static/...): those stay the API's and files'."""
    if owner in RESERVED:
        raise HTTPException(404)


@router.get("/{owner}/{project}")
async def project_page(
    request: Request, owner: str, project: str, offset: Annotated[int, Query(ge=0, le=10**9)] = 0
) -> Response:
    """A project: its models (newest first, 100 a page), Train Model, and train-from-your-own-machine."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        ctx = await _project(api, owner, project, offset)
        datasets = await api.get("/datasets", limit=1)
        dataset = datasets["items"][0]["uri"] if datasets["items"] else f"yf://{owner}/datasets/<your dataset>"
        base = str(request.base_url).rstrip("/")
        command = train_command(base, owner, project, dataset)
        return {**ctx, "title": f"{owner}/{project}", "command": command, "train_url": f"/{owner}/{project}/train"}

    return await page(request, "project.html", load)


@router.get("/{owner}/{project}/models-table")
async def models_table(
    request: Request, owner: str, project: str, offset: Annotated[int, Query(ge=0, le=10**9)] = 0
) -> Response:
    """The models table alone: htmx swaps it in every few seconds while a model is active."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        return await _project(api, owner, project, offset)

    return await page(request, "_models_table.html", load, fragment=True)
