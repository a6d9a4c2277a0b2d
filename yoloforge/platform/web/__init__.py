"""The web pages of the platform: Jinja2 templates rendered by the server, htmx for partial updates, small ES
modules for live views, served with their npm assets from `static/` (no CDN: installs are often offline).

Pages reach data only through the JSON API, called in-process with the browser's own session cookie
(`web/api.py`), so every page gets the same scope checks, owner scoping and error messages as any client.
`mount(app)` is called by `create_app`; nothing is built at import.
"""

from __future__ import annotations

from fastapi import FastAPI


def mount(app: FastAPI) -> None:
    """Add the static files, the local API docs (/docs, /redoc) and the page routes to `app`."""
    from fastapi.staticfiles import StaticFiles

    from yoloforge.platform.web.assets import STATIC
    from yoloforge.platform.web.pages import PAGE_ROUTERS

    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    for router in PAGE_ROUTERS:
        app.include_router(router, include_in_schema=False)
