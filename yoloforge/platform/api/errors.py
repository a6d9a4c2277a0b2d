"""One error shape for every failure: `{"detail": "one line naming the field or resource"}`.

Validation errors (422) add `errors`: each invalid input's location (["body", "name"]), its dotted
field name and the message, so a form can show each at its field.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from yoloforge.platform.schemas.common import ErrorOut
from yoloforge.platform.services.errors import ServiceError, Unauthorized
from yoloforge.utils.log import LOGGER

# documented on every route, so clients (and schemathesis) know each error's shape
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text}
    for status, text in (
        (400, "Malformed request"),
        (401, "No credentials, or credentials not valid"),
        (402, "Balance too low: the detail names the balance and the amount needed"),
        (403, "A scope is missing, or the resource is someone else's"),
        (404, "Not found (or private to another account)"),
        (409, "Name taken"),
        (413, "Request body too large"),
        (422, "Invalid input: `errors` names each field"),
    )
}


def _field(loc: tuple[Any, ...]) -> str:
    parts = (
        [str(p) for p in loc[1:]]
        if len(loc) > 1 and loc[0] in ("body", "query", "path", "header", "cookie")
        else [str(p) for p in loc]
    )
    return ".".join(parts) or str(loc[0] if loc else "request")


def _clean(value: Any) -> Any:
    """A JSON-safe copy (validation contexts may hold exceptions or bytes)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [
        {
            "loc": [_clean(p) for p in e.get("loc", ())],
            "field": _field(tuple(e.get("loc", ()))),
            "msg": str(e.get("msg", "")),
        }
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['msg']}" for e in errors) or "invalid request"
    return JSONResponse({"detail": detail, "errors": errors}, status_code=422)


async def _service(request: Request, exc: ServiceError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return JSONResponse({"detail": exc.message}, status_code=exc.status, headers=headers)


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}: see /docs for the API"
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def database_busy(exc: BaseException) -> bool:
    """SQLite's "database is locked": a writer waited its whole busy timeout (SQLite's busy wait is not fair, so
    one of many concurrent writers can lose). Nothing was written; the same request can simply be sent again."""
    return isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)


async def _database(request: Request, exc: Exception) -> JSONResponse:
    if database_busy(exc):
        LOGGER.warning("%s %s: the SQLite database stayed locked by other writers; answered 503", request.method,
                       request.url.path)  # fmt: skip
        detail = "the database is busy with other writes: send the same request again in a second"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    LOGGER.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse({"detail": "internal server error (logged on the server)"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the one shape above."""
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceError, _service)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(OperationalError, _database)
    app.add_exception_handler(Exception, _unexpected)
