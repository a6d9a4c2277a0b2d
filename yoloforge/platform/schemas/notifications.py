"""Notifications, webhooks and their delivery log."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field

from yoloforge.platform.schemas.common import PublicModel, example


class NotificationPublic(PublicModel):
    id: int
    kind: str = Field(description="job.completed, job.failed, job.stopped, job.cancelled or job.paused.")
    title: str
    body: str
    data: dict[str, Any]
    created_at: dt.datetime
    read_at: dt.datetime | None


class MarkRead(BaseModel):
    model_config = example({"ids": [1, 2]})

    ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        None, max_length=1000, description="Notification ids; none: all."
    )


class MarkedRead(BaseModel):
    marked: int


class WebhookCreate(BaseModel):
    model_config = example({"url": "https://example.com/hooks/yoloforge"})

    url: str = Field(min_length=8, max_length=2000, description="An http(s) URL receiving POSTed JSON.")


class WebhookPublic(PublicModel):
    id: int
    url: str
    active: bool
    created_at: dt.datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="The signing secret, shown once: verify X-Yoloforge-Signature with it.")


class DeliveryPublic(PublicModel):
    id: int
    idempotency_key: str
    event: str
    status: str = Field(description="pending, delivered or failed.")
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class NotificationSettingsIn(BaseModel):
    model_config = example({"email": "alice@example.com"})

    email: str | None = Field(None, max_length=320, description="Where to e-mail notifications; null: nowhere.")


class NotificationSettingsOut(BaseModel):
    email: str | None
    smtp_configured: bool = Field(description="Whether this server sends e-mail at all.")
