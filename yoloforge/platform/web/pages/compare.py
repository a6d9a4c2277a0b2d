"""Compare models of a project: one chart per metric with a curve per model, best/final metrics side by side,
and the settings that differ."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api, ApiError
from yoloforge.platform.web.pages.models import model_base
from yoloforge.platform.web.pages.projects import check_owner
from yoloforge.platform.web.render import page

router = APIRouter()
MAX_MODELS = 8
METRICS = [  # (title, results.csv column, higher is better)
    ("mAP50-95", "metrics/mAP50-95(B)", True),
    ("mAP50", "metrics/mAP50(B)", True),
    ("Precision", "metrics/precision(B)", True),
    ("Recall", "metrics/recall(B)", True),
    ("Val box loss", "val/box_loss", False),
    ("Val class loss", "val/cls_loss", False),
    ("Val DFL loss", "val/dfl_loss", False),
]


def summarize(model: dict[str, Any]) -> dict[str, Any]:
    """Best (over epochs) and final (last epoch) value of each metric; None where never reported."""
    rows = [r["metrics"] for r in model["metrics"]]
    out: dict[str, Any] = {"name": model["name"], "status": model["status"], "epochs": len(rows), "best": {}}
    out["final"] = {col: rows[-1].get(col) if rows else None for _, col, _ in METRICS}
    for _, col, higher in METRICS:
        values = [r[col] for r in rows if isinstance(r.get(col), (int, float))]
        out["best"][col] = (max(values) if higher else min(values)) if values else None
    return out


def differing_settings(models: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """(key, value per model) for each setting whose values are not all equal (a missing key counts as '—')."""
    keys = sorted({k for m in models for k in (m.get("settings") or {})})
    out = []
    for k in keys:
        values = [(m.get("settings") or {}).get(k, "—") for m in models]
        if len({json.dumps(v, sort_keys=True, default=str) for v in values}) > 1:
            out.append((k, values))
    return out


def parse_names(models: str) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in models.split(",") if n.strip()))
    if len(names) < 2:
        raise ApiError(422, "choose at least two models to compare (tick them in the models table)")
    if len(names) > MAX_MODELS:
        raise ApiError(422, f"compare at most {MAX_MODELS} models at once; {len(names)} were chosen")
    return names


@router.get("/{owner}/{project}/compare")
async def compare_page(
    request: Request,
    owner: str,
    project: str,
    models: Annotated[str, Query(max_length=2000, description="Model names, comma-separated.")] = "",
) -> Response:
    """Overlaid curves per metric (click a legend entry to hide a model), best/final metrics, differing settings."""
    check_owner(owner)

    async def load(api: Api, request: Request) -> dict[str, Any]:
        chosen = [await api.get(model_base(owner, project, n)) for n in parse_names(models)]
        curves = {
            "names": [m["name"] for m in chosen],
            "metrics": [[title, col] for title, col, _ in METRICS],
            "runs": [[{"epoch": r["epoch"], **r["metrics"]} for r in m["metrics"]] for m in chosen],
        }
        return {
            "title": f"Compare · {owner}/{project}",
            "owner": owner,
            "project": project,
            "metrics": METRICS,
            "summaries": [summarize(m) for m in chosen],
            "differing": differing_settings(chosen),
            "curves": curves,
        }

    return await page(request, "compare.html", load)
