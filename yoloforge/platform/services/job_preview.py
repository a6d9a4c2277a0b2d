"""A submission's dry run (`POST .../models?dry_run=true`): every check a submission makes, nothing written, and
what would happen: whether the account may start on the GPU type, how many jobs wait for it, the cost estimate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Job
from yoloforge.platform.gpus import Catalog
from yoloforge.platform.schemas.jobs import JobCreate
from yoloforge.platform.services import estimates, job_hooks, jobs
from yoloforge.platform.services.errors import Conflict, ServiceError
from yoloforge.platform.services.job_submit import EARLIER, Checked, check, name_taken
from yoloforge.platform.services.principal import Principal


@dataclass(frozen=True)
class Preview:
    """What a submission would do. `estimate` is None when the model or GPU type has no figure (`estimate_note`
    says which); `reason` says why the account may not start now (the balance rule)."""

    checked: Checked
    can_start: bool
    reason: str | None
    waiting: int
    estimate: estimates.Estimate | None
    estimate_note: str | None


def preview(
    session: Session, catalog: Catalog, principal: Principal, owner: str, project: str, body: JobCreate
) -> Preview:
    """Check `body` as `submit` would (NotFound, Forbidden, Invalid, Conflict for a taken name), write nothing."""
    checked = check(session, catalog, principal, owner, project, body)
    if name_taken(session, checked, body.name):
        raise Conflict(f"project {owner}/{project} already has a model named {body.name!r}", field="name")
    try:
        job_hooks.check_can_start(session, principal.user, checked.gpu)
        can_start, reason = True, None
    except ServiceError as e:
        can_start, reason = False, e.message
    waiting = session.scalar(
        select(func.count()).select_from(Job).where(Job.state.in_(jobs.WAITING), Job.gpu_type == checked.gpu.name)
    )
    try:
        arch = architecture(session, principal, str(checked.settings["model"]))
        estimate = estimates.estimate_for(checked.gpu, arch, epochs=body.epochs, imgsz=body.imgsz,
                                          version=checked.version)  # fmt: skip
        note = None
    except ServiceError as e:
        estimate, note = None, e.message
    return Preview(checked, can_start, reason, int(waiting or 0), estimate, note)


def architecture(session: Session, principal: Principal, model: str, hops: int = 8) -> str:
    """The architecture name a run's `model` setting trains (yolo11n.pt -> yolo11n; an earlier platform model
    OWNER/PROJECT/MODEL[:KIND] -> what that model trained, followed up to `hops` times through models the caller
    may read)."""
    from yoloforge.platform.services.models import find_model

    for _ in range(hops):
        m = EARLIER.match(model)
        if m is None:
            return model
        try:
            earlier = find_model(session, principal, m.group("owner"), m.group("project"), m.group("model"))
        except ServiceError:
            return model
        if not isinstance(earlier.settings, dict) or "model" not in earlier.settings:
            return model
        model = str(earlier.settings["model"])
    return model
