"""One router per resource. `ROUTERS` are mounted under /api/v1 by `create_app`; later resources add theirs here.

`datasets.upload_router` is mounted apart, with the upload size limit instead of the 1 MiB JSON limit.
"""

from __future__ import annotations

from yoloforge.platform.api.routes import (
    auth,
    billing,
    datasets,
    exports,
    gpus,
    health,
    jobs,
    keys,
    live,
    models,
    notifications,
    projects,
    stream,
    users,
)

# stream first: a request is matched against the routes in this order, and streamed runs send most requests (their
# paths, /stream/..., overlap no other router's)
ROUTERS = [stream.router, health.router, auth.router, users.router, keys.router, projects.router, datasets.router,
           models.router, jobs.router, gpus.router, notifications.router, exports.router, live.router,
           billing.router, billing.cost_router]  # fmt: skip
UPLOAD_ROUTERS = [datasets.upload_router, stream.upload_router]
