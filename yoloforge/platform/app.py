"""`create_app(settings)`: the FastAPI application, built on call (nothing at import).

It opens the database and storage named by the settings, applies the migrations, and mounts one router
per resource under /api/v1 (OpenAPI at /openapi.json, interactive docs at /docs). Later parts mount
here too: SSE streams and the Ultralytics-compatible endpoints (`compat/`) as routers, the web pages
(`web/`) at /.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from yoloforge.platform.settings import MB, ServerSettings

API_PREFIX = "/api/v1"
JSON_BODY_LIMIT = MB  # every request body but uploads


def create_app(settings: ServerSettings | None = None, *, migrate: bool = True) -> FastAPI:
    """The platform app for `settings` (default: from YOLOFORGE_SERVER_* and the defaults).

    With `migrate`, the database is brought to the newest migration first.
    """
    from yoloforge import __version__
    from yoloforge.platform.api.deps import single_valued_query
    from yoloforge.platform.api.errors import ERROR_RESPONSES, install_error_handlers
    from yoloforge.platform.api.limits import JsonTooLarge
    from yoloforge.platform.api.routes import ROUTERS, UPLOAD_ROUTERS
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.services import billing_hooks
    from yoloforge.platform.services.billing_rules import BillingPolicy
    from yoloforge.platform.state import PlatformState
    from yoloforge.platform.web import mount as mount_web

    settings = settings or ServerSettings()
    billing_hooks.register(BillingPolicy.from_settings(settings))
    state = PlatformState.build(settings)
    if migrate:
        upgrade(state.db.engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start_jobs()  # the scheduler loop: re-attaches to running jobs, places queued ones
        from yoloforge.platform.services.sweeper import lost_run_sweeper

        sweeper = asyncio.create_task(lost_run_sweeper(state))
        yield
        sweeper.cancel()
        state.close()

    app = FastAPI(
        title="yoloforge platform",
        version=__version__,
        description="Projects, datasets and models of the yoloforge training platform.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are the web part's, with their assets served locally (no CDN)
        redoc_url=None,
        dependencies=[Depends(single_valued_query)],
    )
    app.state.platform = state
    app.add_middleware(JsonTooLarge, upload_mb=settings.max_upload_mb, json_mb=JSON_BODY_LIMIT // MB)
    if settings.fault_rate > 0:
        from yoloforge.platform.api.faults import FaultInjector

        app.add_middleware(FaultInjector, rate=settings.fault_rate, seed=settings.fault_seed)
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES, max_body_size=JSON_BODY_LIMIT)
    for router in UPLOAD_ROUTERS:
        limit = settings.max_upload_bytes + MB  # the archive plus the form's other fields
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES, max_body_size=limit)
    from yoloforge.platform.compat import compat_routers

    for router in compat_routers():  # Ultralytics' paths, at the root (checkpoint PUTs need the upload limit)
        app.include_router(router, max_body_size=settings.max_upload_bytes + MB)
    mount_web(app)  # last: its /{owner}/{project} pages must not shadow the routes above
    return app
