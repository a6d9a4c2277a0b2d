"""Per-job tokens: the API key a cloud job's worker uses, scoped to its one model and revoked when the job ends.

A job token is an ordinary ApiKey of the model's owner (scope `train`) with `model_id` set. It may read what its
owner may read (the worker downloads its dataset through yf://) and write only to its own model's routes
(`/api/v1/projects/OWNER/PROJECT/models/NAME/...`) or to the ingestion paths in `WRITE_PREFIXES`.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import update
from sqlalchemy.orm import Session

from yoloforge.platform.db import ApiKey, Job, utcnow
from yoloforge.platform.services.errors import Forbidden
from yoloforge.platform.services.keys import KEY_PREFIX, SHOWN_PREFIX, hash_key, new_key
from yoloforge.platform.services.principal import Principal

# paths (besides the model's own) a job token may write to: the streaming client's ingestion (issue 11), whose
# runs attach to the job's model by YOLOFORGE_PLATFORM_MODEL
WRITE_PREFIXES: list[str] = ["/api/v1/stream/"]


def create_for_job(session: Session, job: Job) -> str:
    """A fresh token for this attempt of `job` (the key itself; only its hash is stored). Not committed."""
    key = new_key()
    assert key.startswith(KEY_PREFIX)
    session.add(
        ApiKey(
            user_id=job.user_id,
            name=f"job {job.id} attempt {job.attempt} (model {job.model.name})",
            prefix=key[:SHOWN_PREFIX],
            key_hash=hash_key(key),
            scopes=["train"],
            model_id=job.model_id,
        )
    )
    session.flush()
    return key


def revoke_for_model(session: Session, model_id: int) -> None:
    """Revoke every live token of the model's job (not committed)."""
    session.execute(
        update(ApiKey)
        .where(ApiKey.model_id == model_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def model_path(session: Session, model_id: int) -> str:
    from yoloforge.platform.db import Model

    model = session.get(Model, model_id)
    if model is None:
        return "/nowhere/"
    return f"/api/v1/projects/{model.project.owner.name}/{model.project.name}/models/{model.name}"


def check_request(session: Session, principal: Principal, request: Request) -> None:
    """Refuse a write by a job token outside its model (Forbidden, naming the model it is for)."""
    model_id = principal.bound_model_id
    if model_id is None or request.method in ("GET", "HEAD", "OPTIONS"):
        return
    allowed = model_path(session, model_id)
    path = request.url.path.rstrip("/")
    if path == allowed or path.startswith(allowed + "/") or any(path.startswith(p) for p in WRITE_PREFIXES):
        return
    raise Forbidden(f"this key belongs to a training job and may only write to {allowed}")
