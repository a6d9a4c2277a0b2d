"""Datasets: yours and the public ones with an upload form, and one dataset's validation report."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api
from yoloforge.platform.web.render import page

router = APIRouter()


@router.get("/datasets")
async def datasets_page(request: Request) -> Response:
    """Yours first, then the public ones of others; the upload form."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        me = await api.get("/users/me")
        items = (await api.get("/datasets", limit=200))["items"]
        mine = [d for d in items if d["owner"] == me["name"]]
        public = [d for d in items if d["owner"] != me["name"]]
        return {"mine": mine, "public": public, "title": "Datasets"}

    return await page(request, "datasets.html", load)


def class_bars(classes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Classes by instances, most first, each with its bar's width in % of the largest (0 boxes -> 0 %)."""
    top = max((c["instances"] for c in classes), default=0) or 1
    ordered = sorted(classes, key=lambda c: (-c["instances"], c["id"]))
    return [{**c, "width": round(100 * c["instances"] / top, 1)} for c in ordered]


@router.get("/datasets/{owner}/{name}")
async def dataset_page(
    request: Request, owner: str, name: str, version: Annotated[int | None, Query(ge=1, le=10**6)] = None
) -> Response:
    """A dataset version's validation report: totals, per-class bar chart, splits, each defect with its file."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        me = await api.get("/users/me")
        ds = await api.get(f"/datasets/{owner}/{name}")
        number = version or ds["latest_version"]
        v = await api.get(f"/datasets/{owner}/{name}/versions/{number}")
        return {
            "ds": ds,
            "v": v,
            "bars": [c for c in class_bars(v["report"]["classes"]) if c["instances"]],
            "unused": [c["name"] for c in v["report"]["classes"] if not c["instances"]],
            "mine": ds["owner"] == me["name"],
            "title": f"{owner}/{name}",
        }

    return await page(request, "dataset.html", load)
