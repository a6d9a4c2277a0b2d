"""Sign in and out. The form posts JSON to /api/v1/auth/login (which sets the session cookie) from
static/js/forms.js; signing out posts to /api/v1/auth/logout the same way."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from yoloforge.platform.web.api import Api, ApiError
from yoloforge.platform.web.render import templates

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never `//host` or a URL): an open redirect would be a phishing tool."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/projects"


@router.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/projects", status_code=303)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    """The sign-in form; an already signed-in browser goes straight on."""
    api = Api(request)
    try:
        if api.signed_in:
            await api.get("/users/me")
            return RedirectResponse(_safe_next(next), status_code=303)
    except ApiError:
        pass  # a stale cookie: sign in again
    finally:
        await api.aclose()
    return templates.TemplateResponse(request, "login.html", {"next": _safe_next(next), "me": None, "chrome": {}})
