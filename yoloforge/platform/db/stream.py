"""Streaming tables: runs (one client process streaming into a model), the per-model event log, uploads.

A model's events are numbered 1, 2, 3 ... (`event_id`, from `models.last_event_id`): the SSE stream's ids,
so a subscriber resumes with Last-Event-ID. Each (run, seq) is stored once: replays are harmless.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yoloforge.platform.db.base import Base, utcnow
from yoloforge.platform.db.models import Model


class Run(Base):
    """One process streaming into a model: `key` is the client's run id (native) or a made-up one (Ultralytics)."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    protocol: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    stop_requested: Mapped[bool] = mapped_column(default=False)
    start_hash: Mapped[str | None] = mapped_column(String(64))

    model: Mapped[Model] = relationship()


class ModelEvent(Base):
    """One event of a model's log, in arrival order (`event_id`); `seq` is its number within its run."""

    __tablename__ = "model_events"
    __table_args__ = (
        UniqueConstraint("run_id", "seq"),
        UniqueConstraint("model_id", "event_id"),
        Index("ix_model_events_model_id_kind_event_id", "model_id", "kind", "event_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int] = mapped_column()
    kind: Mapped[str] = mapped_column(String(16))
    time: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Upload(Base):
    """A checkpoint upload: chunks land in the server's scratch folder until the announcing event commits it."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(128))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    checkpoint_id: Mapped[int | None] = mapped_column()
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
