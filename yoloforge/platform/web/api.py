"""The JSON API called in-process by page routes, as the signed-in browser (its session cookie).

A page never reads the database: it asks the same routes any client uses, through httpx's ASGI transport
(no socket, no second server), so scopes, owner scoping and error texts are the API's own.
"""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Request

from yoloforge.platform.api.deps import COOKIE

API = "/api/v1"


class ApiError(Exception):
    """An API answer that is not 2xx: its status and its one-line `detail`."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


class Api:
    """`await Api(request).get("/projects")` -> the decoded JSON of GET /api/v1/projects as this browser."""

    def __init__(self, request: Request) -> None:
        self.request = request
        cookie = request.cookies.get(COOKIE)
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=request.app),
            base_url="http://pages.internal",
            cookies={COOKIE: cookie} if cookie else None,
            timeout=30,
        )

    @property
    def signed_in(self) -> bool:
        return COOKIE in self.request.cookies

    async def get(self, path: str, **params: Any) -> Any:
        """GET /api/v1`path`; raises ApiError on any non-2xx answer."""
        query = {k: v for k, v in params.items() if v is not None}
        r = await self._client.get(API + path, params=query)
        if r.status_code >= 400:
            try:
                detail = str(r.json().get("detail", r.text))
            except ValueError:
                detail = r.text[:200]
            raise ApiError(r.status_code, detail)
        return r.json()

    async def optional(self, path: str, **params: Any) -> Any | None:
        """Like get, but None when the route does not exist (a part of the platform not installed yet)."""
        try:
            return await self.get(path, **params)
        except ApiError as e:
            if e.status == 404 and e.detail.startswith("no route"):
                return None
            raise

    async def maybe(self, path: str, **params: Any) -> Any | None:
        """Like get, but None on any 404 (a route not installed, or nothing there: a remote model has no job)."""
        try:
            return await self.get(path, **params)
        except ApiError as e:
            if e.status == 404:
                return None
            raise

    async def aclose(self) -> None:
        await self._client.aclose()
