"""/docs (Swagger UI) and /redoc with their JavaScript and CSS served from our vendor folder, not a CDN."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse

from yoloforge.platform.web.assets import MISSING_HELP, missing_vendor_files

router = APIRouter()
_VENDOR = "/static/vendor"


def _missing() -> HTMLResponse | None:
    missing = [m for m in missing_vendor_files() if m.startswith(("swagger", "redoc"))]
    if not missing:
        return None
    return HTMLResponse(f"<!doctype html><title>API docs</title><p>{MISSING_HELP}</p>", status_code=503)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Interactive API documentation."""
    return _missing() or get_swagger_ui_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API",
        oauth2_redirect_url="/docs/oauth2-redirect",
        swagger_js_url=f"{_VENDOR}/swagger-ui-bundle.js",
        swagger_css_url=f"{_VENDOR}/swagger-ui.css",
        swagger_favicon_url="/static/favicon.svg",
    )


@router.get("/docs/oauth2-redirect")
def swagger_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The API reference."""
    return _missing() or get_redoc_html(
        openapi_url=request.app.openapi_url,
        title=f"{request.app.title} - API reference",
        redoc_js_url=f"{_VENDOR}/redoc.standalone.js",
        redoc_favicon_url="/static/favicon.svg",
        with_google_fonts=False,
    )
