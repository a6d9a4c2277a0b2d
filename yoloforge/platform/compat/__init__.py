"""Endpoints for an unmodified Ultralytics client (8.4+, `ULTRALYTICS_PLATFORM_URL`, `ULTRALYTICS_API_KEY`), mapped
onto the same services as the native protocol. The protocol is described, in our own words, in
shared/fixtures/platform-stream/README.md; no Ultralytics code is used.

    POST /api/webhooks/training/metrics      training_started, console_output, epoch_end, checkpoint_saved,
                                             training_complete (training.py)
    POST /api/webhooks/models/upload         an upload URL (a one-time token) for a raw PUT (training.py)
    PUT  /api/compat/uploads/{token}/{file}  the checkpoint's bytes, no Authorization (training.py)
    GET  /api/datasets/{owner}/{slug}/export and the NDJSON manifest and images it points at (files.py)
    GET  /api/models/{owner}/{project}/{model}/files   a model's weights (files.py)
    GET  /api/account/summary                `yolo login` (files.py)

Keys: `Authorization: Bearer yf_...` (our keys). These routes are left out of the OpenAPI document: they
speak Ultralytics' protocol, not ours.
"""

from __future__ import annotations


def compat_routers() -> list:
    """The routers to mount at the server's root."""
    from yoloforge.platform.compat import datasets, files, training

    return [training.router, files.router, datasets.router]
