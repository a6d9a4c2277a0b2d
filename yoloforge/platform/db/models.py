"""Models (training runs inside a project), their per-epoch metric rows and their checkpoints.

Rows are written by the streaming and jobs services (later issues); this module only defines them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from yoloforge.platform.db.base import Base, utcnow
from yoloforge.platform.db.projects import Project


class Model(Base):
    """One training run: `source` is `cloud` (a platform job) or `remote` (a user's own machine)."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column()
    ended_at: Mapped[dt.datetime | None] = mapped_column()
    best_metrics: Mapped[dict[str, Any] | None] = mapped_column()
    final_metrics: Mapped[dict[str, Any] | None] = mapped_column()
    last_event_id: Mapped[int | None] = mapped_column()  # the model's event counter (db/stream.py, migration 0002)

    project: Mapped[Project] = relationship()
    metrics: Mapped[list[MetricRow]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="MetricRow.epoch"
    )
    checkpoints: Mapped[list[Checkpoint]] = relationship(
        back_populates="model", cascade="all, delete-orphan", order_by="Checkpoint.id"
    )


class MetricRow(Base):
    """One epoch's metrics (every results.csv column), once per (model, epoch)."""

    __tablename__ = "metric_rows"
    __table_args__ = (UniqueConstraint("model_id", "epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="metrics")


class Checkpoint(Base):
    """A stored weights file: `kind` is last, best, final or epochN; one row per (model, kind)."""

    __tablename__ = "checkpoints"
    __table_args__ = (UniqueConstraint("model_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[int | None] = mapped_column()
    storage_key: Mapped[str] = mapped_column(String(512))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="checkpoints")
