"""The GPU catalog with live free capacity, and the admin's per-account job quotas."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from yoloforge.platform.api.deps import CurrentUser, SessionDep, StateDep, needs
from yoloforge.platform.api.params import OwnerPath
from yoloforge.platform.db import Job
from yoloforge.platform.schemas.jobs import GpuTypePublic, QuotaPublic, QuotaUpdate
from yoloforge.platform.services import accounts, jobs

router = APIRouter(tags=["gpus"])


@router.get("/gpus", **needs("read"))
def list_gpus(session: SessionDep, state: StateDep, principal: CurrentUser) -> list[GpuTypePublic]:
    """Every GPU type of the catalog, with its rate, whether this installation serves it, and its free slots."""
    used = dict(session.execute(select(Job.pool, func.count()).where(Job.state.in_(jobs.ACTIVE)).group_by(Job.pool))
                .all())  # fmt: skip
    out = []
    for t in state.catalog.types:
        pool = state.catalog.pool_of(t)
        capacity = pool.slots if pool else 0
        out.append(GpuTypePublic(
            name=t.name, label=t.label or t.name, vram_gb=t.vram_gb, speed=t.speed, hourly_usd=str(t.hourly_usd),
            available=pool is not None, executor=pool.executor if pool else None, capacity=capacity,
            free=max(0, capacity - used.get(pool.name, 0)) if pool else 0,
        ))  # fmt: skip
    return out


def _quota(session: SessionDep, state: StateDep, user_name: str) -> QuotaPublic:
    user = accounts.get_user(session, user_name)
    running = session.scalar(select(func.count()).select_from(Job)
                             .where(Job.user_id == user.id, Job.state.in_(jobs.ACTIVE))) or 0  # fmt: skip
    limit = jobs.quota_of(session, user.id, state.settings.default_job_quota)
    return QuotaPublic(user=user.name, max_running=limit, running=running)


@router.get("/users/{owner}/quota", **needs("admin"))
def get_quota(owner: OwnerPath, session: SessionDep, state: StateDep, principal: CurrentUser) -> QuotaPublic:
    """How many cloud jobs the account may run at once, and how many run now (admin)."""
    return _quota(session, state, owner)


@router.put("/users/{owner}/quota", **needs("admin"))
def set_quota(
    owner: OwnerPath, body: QuotaUpdate, session: SessionDep, state: StateDep, principal: CurrentUser
) -> QuotaPublic:
    """Set how many cloud jobs the account may run at once (admin)."""
    user = accounts.get_user(session, owner)
    jobs.set_quota(session, user.id, body.max_running)
    if state.runner is not None:
        state.runner.poke()
    return _quota(session, state, owner)
