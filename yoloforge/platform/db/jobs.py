"""Cloud training jobs: the job of a model, its state history, per-account quotas, and the scheduler's lock row.

One Job per cloud model, kept across stop, resume and crash restarts (`attempt` counts the starts). Every
change of `state` is a JobTransition row (billing meters from these).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yoloforge.platform.db.accounts import User
from yoloforge.platform.db.base import Base, utcnow
from yoloforge.platform.db.models import Model


class Job(Base):
    """The platform's execution of a cloud model on a GPU type; see services/jobs.py for the states."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_gpu_type_queued_at", "state", "gpu_type", "queued_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    gpu_type: Mapped[str] = mapped_column(String(32))
    pool: Mapped[str | None] = mapped_column(String(64))
    executor: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(default=0)
    restarts: Mapped[int] = mapped_column(default=0)
    max_restarts: Mapped[int] = mapped_column(default=3)
    want: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    handle: Mapped[dict[str, Any] | None] = mapped_column()
    device: Mapped[str | None] = mapped_column(String(32))
    hourly_usd: Mapped[str] = mapped_column(String(16), default="0")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column()

    model: Mapped[Model] = relationship()
    user: Mapped[User] = relationship()
    transitions: Mapped[list[JobTransition]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobTransition.id"
    )


class JobTransition(Base):
    """One change of a job's state, with when and why (`from_state` is None for the first, `queued`)."""

    __tablename__ = "job_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text, default="")

    job: Mapped[Job] = relationship(back_populates="transitions")


class JobQuota(Base):
    """How many cloud jobs an account may run at once (absent: the server's `default_job_quota`)."""

    __tablename__ = "job_quotas"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    max_running: Mapped[int] = mapped_column()


class SchedulerLock(Base):
    """One row; a placement starts by updating it, which serializes placements on every database (a row lock on
    PostgreSQL, the write lock on SQLite), and counts them."""

    __tablename__ = "scheduler_lock"

    id: Mapped[int] = mapped_column(primary_key=True)
    placements: Mapped[int] = mapped_column(default=0)
