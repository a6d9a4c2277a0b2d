"""One router per resource. `ROUTERS` are mounted under /api/v1 by `create_app`; later resources add theirs here.

`datasets.upload_router` is mounted apart, with the upload size limit instead of the 1 MiB JSON limit.
"""

from __future__ import annotations

from yoloforge.platform.api.routes import auth, billing, datasets, health, keys, models, projects, users

ROUTERS = [
    health.router,
    auth.router,
    users.router,
    keys.router,
    projects.router,
    datasets.router,
    models.router,
    billing.router,
    billing.cost_router,
]
UPLOAD_ROUTERS = [datasets.upload_router]
