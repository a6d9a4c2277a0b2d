"""Account settings: API keys (create with a scope, shown once, revoke), webhooks and the notification e-mail."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from yoloforge.platform.web.api import Api
from yoloforge.platform.web.render import page

router = APIRouter()


async def _keys(api: Api, request: Request) -> dict[str, Any]:
    return {"keys": (await api.get("/keys", limit=200))["items"]}


@router.get("/settings")
async def settings_page(request: Request) -> Response:
    """API keys now; webhooks and notification e-mail join once the jobs part is installed."""

    async def load(api: Api, request: Request) -> dict[str, Any]:
        webhooks = await api.optional("/webhooks")  # once the jobs part is installed
        email = await api.optional("/notifications/settings")
        return {**(await _keys(api, request)), "webhooks": webhooks, "email": email, "title": "Settings"}

    return await page(request, "settings.html", load)


@router.get("/settings/keys-table")
async def keys_table(request: Request) -> Response:
    """The keys table alone (htmx reloads it after a key is created or revoked)."""
    return await page(request, "_keys_table.html", _keys, fragment=True)
