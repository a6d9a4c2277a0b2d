"""A model's page: status, live curves (metrics so far, then SSE), checkpoints to download, the settings used."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api
from yoloforge.platform.web.pages.projects import ACTIVE, MAP, check_owner
from yoloforge.platform.web.render import page

router = APIRouter()

# The charts: title -> results.csv columns drawn on it (the library's and Ultralytics' column names).
CHARTS: dict[str, list[str]] = {
    "Box loss": ["train/box_loss", "val/box_loss"],
    "Class loss": ["train/cls_loss", "val/cls_loss"],
    "DFL loss": ["train/dfl_loss", "val/dfl_loss"],
    "mAP": ["metrics/mAP50(B)", "metrics/mAP50-95(B)"],
    "Precision and recall": ["metrics/precision(B)", "metrics/recall(B)"],
}


def model_base(owner: str, project: str, name: str) -> str:
    return f"/projects/{owner}/{project}/models/{name}"


@router.get("/{owner}/{project}/models/{name}")
async def model_page(request: Request, owner: str, project: str, name: str) -> Response:
    """The model's status, curves, checkpoints and settings; the curves grow live while it trains."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        base = model_base(owner, project, name)
        model = await api.get(base)
        best = model.get("best_metrics") or {}
        rows = [{"epoch": r["epoch"], **r["metrics"]} for r in model["metrics"]]
        return {
            "model": model,
            "title": f"{name} · {owner}/{project}",
            "map": best.get(MAP),
            "active": model["status"] in ACTIVE,
            "charts": CHARTS,
            "series": {"rows": rows, "charts": list(CHARTS.items())},  # a list: tojson sorts a dict's keys
            "api_base": "/api/v1" + base,
            "settings": sorted((model.get("settings") or {}).items()),
        }

    return await page(request, "model.html", load)
