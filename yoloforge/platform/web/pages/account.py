"""Notifications and billing: pages that exist once the jobs and billing parts of the platform are installed."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api, ApiError
from yoloforge.platform.web.render import page

router = APIRouter()


async def _required(api: Api, path: str, what: str, **params: Any) -> Any:
    answer = await api.optional(path, **params)
    if answer is None:
        raise ApiError(404, f"{what} is not installed on this server (its API route {path} does not exist)")
    return answer


@router.get("/notifications")
async def notifications_page(request: Request) -> Response:
    """Your notifications, newest first (a job completed, failed, stopped, was paused...)."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        notes = await _required(api, "/notifications", "Notifications", limit=100)
        return {"title": "Notifications", "notes": notes}

    return await page(request, "notifications.html", load)


def spend_by_model(entries: list[dict[str, Any]]) -> list[tuple[str, Decimal, int]]:
    """(model, total charged, entries) from ledger rows, most expensive first (charges are negative amounts)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    counts: dict[str, int] = defaultdict(int)
    for e in entries:
        if e.get("model") and Decimal(str(e["amount"])) < 0:
            totals[e["model"]] += -Decimal(str(e["amount"]))
            counts[e["model"]] += 1
    return sorted(((m, t, counts[m]) for m, t in totals.items()), key=lambda x: -x[1])


@router.get("/billing")
async def billing_page(request: Request) -> Response:
    """Balance, the minimum to start a paid job, the ledger, spend per model and the CSV report."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        summary = await _required(api, "/billing", "Billing")
        ledger = await api.get("/billing/ledger", limit=200)
        today = dt.datetime.now(dt.timezone.utc).date()
        return {
            "title": "Billing",
            "summary": summary,
            "ledger": ledger,
            "by_model": spend_by_model(ledger["items"]),
            "from": today.replace(day=1).isoformat(),
            "to": today.isoformat(),
        }

    return await page(request, "billing.html", load)
