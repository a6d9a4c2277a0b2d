"""Rendering pages: the layout's context (who is signed in, the balance when billing is installed), the
template filters, and the one path from a page's loader to HTML, a sign-in redirect, or an error page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from yoloforge.platform.web.api import Api, ApiError
from yoloforge.platform.web.assets import MISSING_HELP, TEMPLATES, missing_vendor_files

Loader = Callable[[Api, Request], Awaitable[dict[str, Any]]]
STOP_POLLING = 286  # htmx: "stop polling" (a fragment for a browser whose session ended)


def _parse(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    t = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def when(value: str | dt.datetime | None) -> str:
    """'2026-11-29 22:10 UTC' (the API's times are UTC); an em dash for none."""
    t = _parse(value)
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if t else "—"


def duration(start: str | None, end: str | None = None) -> str:
    """'1 h 02 min', '3 min 20 s' from start to end (or to now while running); an em dash before a start."""
    t0 = _parse(start)
    if t0 is None:
        return "—"
    seconds = int(((_parse(end) or dt.datetime.now(dt.timezone.utc)) - t0).total_seconds())
    h, rest = divmod(max(seconds, 0), 3600)
    m, s = divmod(rest, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s" if m else f"{s} s"


def filesize(n: int | None) -> str:
    """Bytes as '1.4 MB' (decimal units, as file managers show them)."""
    if n is None:
        return "—"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def metric(value: Any, digits: int = 3) -> str:
    """A metric to `digits` decimals; an em dash when missing or not a number."""
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "—"


def usd(value: str | None) -> str:
    """The API's exact USD decimal string ("12.3400") as '$12.34' (cut, never rounded up); em dash for none."""
    if value in (None, ""):
        return "—"
    from decimal import ROUND_DOWN, Decimal

    d = Decimal(str(value)).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return f"-${-d:,}" if d < 0 else f"${d:,}"


def cents(value: int | None) -> str:
    """Integer cents as '$12.34'."""
    return "—" if value is None else f"{'-' if value < 0 else ''}${abs(value) // 100:,}.{abs(value) % 100:02d}"


templates = Jinja2Templates(directory=TEMPLATES)
templates.env.filters.update(when=when, duration=duration, filesize=filesize, metric=metric, cents=cents, usd=usd)


def error_page(request: Request, status: int, title: str, detail: str, me: dict | None = None) -> HTMLResponse:
    """The error page: what went wrong in one line and what to do next."""
    ctx = {"title": title, "status": status, "detail": detail, "me": me, "chrome": {}}
    return templates.TemplateResponse(request, "error.html", ctx, status_code=status)


async def chrome(api: Api) -> dict[str, Any]:
    """What the header shows besides the account: the balance (billing) and unread notifications (jobs), each
    once its routes are installed."""
    billing = await api.optional("/billing")
    unread = await api.optional("/notifications", unread="true", limit=1)
    return {
        "balance": usd((billing or {}).get("balance")),
        "billing": billing is not None,
        "notifications": unread is not None,
        "unread": (unread or {}).get("total", 0),
    }


def _stop_polling() -> Response:
    """htmx's 'stop polling' answer, leaving what the page shows as it is (no swap)."""
    return Response(status_code=STOP_POLLING, headers={"HX-Reswap": "none"})


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


async def page(request: Request, template: str, load: Loader, *, fragment: bool = False) -> Response:
    """Render `template` with what `load` fetched through the API, for the signed-in browser.

    Not signed in (or a stale cookie): 303 to /login?next=<this page>. An API error: the error page with
    the API's own message and status. Missing npm assets: 503 naming `make setup`. A `fragment` (a part
    htmx polls) answers any of these with 286, htmx's "stop polling".
    """
    if not fragment and (missing := missing_vendor_files()):
        return error_page(request, 503, "Web assets missing", f"{MISSING_HELP} (missing: {', '.join(missing)})")
    api = Api(request)
    me: dict | None = None
    try:
        if not api.signed_in:
            return _stop_polling() if fragment else _login_redirect(request)
        me = await api.get("/users/me")
        ctx = await load(api, request)
        if not fragment:
            ctx["chrome"] = await chrome(api)
    except ApiError as e:
        if fragment:  # the session ended or the thing is gone: the page stops asking
            return _stop_polling()
        if e.status == 401:
            return _login_redirect(request)
        title = {403: "Not allowed", 404: "Not found", 422: "Check your choice"}.get(e.status, "Something went wrong")
        return error_page(request, e.status, title, e.detail, me)
    finally:
        await api.aclose()
    return templates.TemplateResponse(request, template, {"me": me, **ctx})
