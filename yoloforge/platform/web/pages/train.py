"""Train Model, in the docs' four steps: dataset, model, GPU, start. The form posts to the jobs API
(POST .../models); the advanced settings are generated from the library's settings schema."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api
from yoloforge.platform.web.pages.projects import check_owner, train_command
from yoloforge.platform.web.render import page
from yoloforge.platform.web.settings_form import settings_groups

router = APIRouter()

# YOLO11 sizes: parameters (millions) and GFLOPs at 640 as the YOLO11 model table publishes them.
MODELS = [
    ("yolo11n", "Nano", 2.6, 6.5, "Edge and mobile devices; the fastest"),
    ("yolo11s", "Small", 9.4, 21.5, "Balanced speed and accuracy"),
    ("yolo11m", "Medium", 20.1, 68.0, "General purpose"),
    ("yolo11l", "Large", 25.3, 86.9, "High accuracy"),
    ("yolo11x", "Extra large", 56.9, 194.9, "The highest accuracy"),
]


@router.get("/{owner}/{project}/train")
async def train_page(request: Request, owner: str, project: str) -> Response:
    """The four-step Train Model form for `owner/project`."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        me = await api.get("/users/me")
        info = await api.get(f"/projects/{owner}/{project}")
        datasets = (await api.get("/datasets", limit=200))["items"]
        gpus = await api.optional("/gpus")
        base = str(request.base_url).rstrip("/")
        return {
            "title": f"Train Model · {owner}/{project}",
            "project": info,
            "mine": [d for d in datasets if d["owner"] == me["name"] and d["latest_version"]],
            "public": [d for d in datasets if d["owner"] != me["name"] and d["latest_version"]],
            "models": MODELS,
            "gpus": gpus,
            "groups": settings_groups(),
            "submit_url": f"/api/v1/projects/{owner}/{project}/models",
            "command": train_command(base, owner, project, f"yf://{owner}/datasets/<your dataset>"),
        }

    return await page(request, "train.html", load)
