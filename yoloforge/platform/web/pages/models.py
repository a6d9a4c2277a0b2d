"""A model's page: status, live curves (metrics so far, then SSE), checkpoints to download, the settings used."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api, ApiError
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


RUNNING = {"queued", "starting", "downloading", "running", "retrying", "pending"}
RESUMABLE = {"stopped", "paused"}


async def _optional(api: Api, path: str, **params: object) -> dict | None:
    """A part of the model that may not exist (no job for a remote model, cost shown to its owner only)."""
    try:
        return await api.maybe(path, **params)
    except ApiError as e:
        if e.status == 403:
            return None
        raise


def system_rows(items: list[dict]) -> list[dict]:
    """System samples as chart rows: seconds since the first sample, CPU/RAM %, and GPU util/memory % (mean)."""
    rows = []
    t0 = items[0]["time"] if items else 0
    for it in items:
        d = it.get("data") or {}
        gpus = d.get("gpus") or []
        row = {"t": round(float(it["time"]) - float(t0), 1), "cpu": d.get("cpu"), "ram": d.get("ram")}
        if gpus:
            row["gpu"] = sum(g.get("util") or 0 for g in gpus) / len(gpus)
            mem = [100 * g["memory_used"] / g["memory_total"] for g in gpus if g.get("memory_total")]
            row["gpu_mem"] = sum(mem) / len(mem) if mem else None
        rows.append(row)
    return rows


async def stream_parts(api: Api, base: str) -> dict:
    """Console lines and system samples so far (stream part), and the event id the page's SSE resumes after.

    Read BEFORE the model: an epoch that lands in between is then in the model's metrics or after that id.
    """
    console = await _optional(api, base + "/console")
    system = await _optional(api, base + "/system")
    items = (system or {}).get("items", [])
    after = max([int((console or {}).get("next") or 0), *(int(i["event_id"]) for i in items)])
    return {"console": console, "system": system_rows(items) if system is not None else None, "after": after}


async def job_parts(api: Api, base: str, model: dict) -> dict:
    """The job (stop/resume, jobs part) and the cost breakdown (billing part), when installed."""
    job = await _optional(api, base + "/job")
    state = (job or {}).get("state") or model["status"]
    jobs_installed = await api.optional("/gpus") is not None
    return {
        "job": job,
        "polling": state in RUNNING or model["status"] in RUNNING or bool((job or {}).get("want")),
        "can_stop": jobs_installed and state in RUNNING and not (job or {}).get("want"),
        "can_resume": jobs_installed and job is not None and state in RESUMABLE,
        "cost": await _optional(api, base + "/cost"),
        "exports": await _optional(api, base + "/exports"),
    }


async def _head(api: Api, owner: str, project: str, name: str) -> dict:
    base = model_base(owner, project, name)
    model = await api.get(base)
    best = model.get("best_metrics") or {}
    return {"model": model, "map": best.get(MAP), "api_base": "/api/v1" + base, **(await job_parts(api, base, model))}


@router.get("/{owner}/{project}/models/{name}/head")
async def model_head(request: Request, owner: str, project: str, name: str) -> Response:
    """The model's status line and Stop/Resume buttons alone: htmx swaps it in every 3 s while it is active."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict:
        return await _head(api, owner, project, name)

    return await page(request, "_model_head.html", load, fragment=True)


@router.get("/{owner}/{project}/models/{name}")
async def model_page(request: Request, owner: str, project: str, name: str) -> Response:
    """The model's status, curves, checkpoints and settings; the curves grow live while it trains."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        base = model_base(owner, project, name)
        live = await stream_parts(api, base)
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
            **live,
            **(await job_parts(api, base, model)),
        }

    return await page(request, "model.html", load)
