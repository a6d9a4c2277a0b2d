"""Exports of a model's weights to another format (onnx, torchscript, openvino), run as small CPU jobs."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yoloforge.platform.db.base import Base, utcnow


class Export(Base):
    """One export: `status` queued, running, completed or failed; the file's storage key, size and sha256."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), index=True)
    format: Mapped[str] = mapped_column(String(16))
    checkpoint: Mapped[str] = mapped_column(String(16), default="best")
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error: Mapped[str | None] = mapped_column(Text)
    storage_key: Mapped[str | None] = mapped_column(String(512))
    filename: Mapped[str | None] = mapped_column(String(200))
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column()
