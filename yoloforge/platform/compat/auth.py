"""Who calls a compat endpoint: the bearer key as Ultralytics' client sends it, refused with a JSON 401."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from yoloforge.platform.services import keys
from yoloforge.platform.services.errors import ServiceError, Unauthorized
from yoloforge.platform.services.principal import Principal


def principal_of(request: Request, session: Session, scope: str = "train") -> Principal:
    """The caller of `Authorization: Bearer <key>` (with `scope`); Unauthorized otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("missing API key: set ULTRALYTICS_API_KEY to a yoloforge key (yf_...)")
    principal = keys.authenticate_key(session, key.strip(), request.app.state.platform.settings.key_touch_seconds)
    if not principal.has(scope):
        raise ServiceError(f"this API key has no '{scope}' scope", field=None)
    return principal


def error_reply(e: ServiceError) -> JSONResponse:
    """The JSON error shape the Ultralytics client can read (`error`) plus ours (`detail`)."""
    status = 403 if e.status == 400 and "scope" in e.message else e.status
    body: dict[str, Any] = {"error": "Invalid API key" if status == 401 else e.message, "detail": e.message}
    return JSONResponse(body, status_code=status)


def base_url(request: Request) -> str:
    """The server's address as this client reached it (no trailing slash)."""
    return str(request.base_url).rstrip("/")
