"""Notifications and billing: pages that exist once the jobs and billing parts of the platform are installed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api, ApiError
from yoloforge.platform.web.render import page

router = APIRouter()
LEDGER_PAGE = 50


def _offset(value: str | None) -> int:
    """A page offset from the query string (anything but a whole number >= 0 is the first page)."""
    return int(value) if value and value.isdigit() and len(value) < 10 else 0


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


@router.get("/billing")
async def billing_page(request: Request) -> Response:
    """Balance, the minimum to start a paid job, this month's spend per model, the CSV report and the ledger
    (LEDGER_PAGE lines a page, newest first; `?offset=` pages back)."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        summary = await _required(api, "/billing", "Billing")
        offset = _offset(request.query_params.get("offset"))
        ledger = await api.get("/billing/ledger", limit=LEDGER_PAGE, offset=offset)
        today = dt.datetime.now(dt.timezone.utc).date()
        return {
            "title": "Billing",
            "summary": summary,
            "ledger": ledger,
            "from": today.replace(day=1).isoformat(),
            "to": today.isoformat(),
        }

    return await page(request, "billing.html", load)
