"""One router per resource. `ROUTERS` are mounted under /api/v1 by `create_app`; later resources add theirs here.

`datasets.upload_router` is mounted apart, with the upload size limit instead of the 1 MiB JSON limit.
"""

from __future__ import annotations

from yoloforge.platform.api.routes import (
    auth,
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

ROUTERS = [health.router, auth.router, users.router, keys.router, projects.router, datasets.router, models.router,
           jobs.router, gpus.router, notifications.router, exports.router, live.router, stream.router]  # fmt: skip
UPLOAD_ROUTERS = [datasets.upload_router, stream.upload_router]
