"""Page routers, one per area; `PAGE_ROUTERS` is mounted in this order (the /{owner}/{project} pages last,
so fixed paths such as /projects and /datasets win)."""

from __future__ import annotations

from yoloforge.platform.web.pages import account, auth, compare, datasets, docs, models, projects, settings, train

PAGE_ROUTERS = [
    docs.router,
    auth.router,
    account.router,
    datasets.router,
    settings.router,
    models.router,
    compare.router,
    train.router,
    projects.router,
]
