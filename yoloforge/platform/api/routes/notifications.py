"""The signed-in user's notifications (jobs that ended) and webhooks with their delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from yoloforge.platform.api.deps import CurrentUser, PageDep, SessionDep, StateDep, needs
from yoloforge.platform.db import NotificationSettings, Webhook, WebhookDelivery
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.schemas.notifications import (
    DeliveryPublic,
    MarkedRead,
    MarkRead,
    NotificationPublic,
    NotificationSettingsIn,
    NotificationSettingsOut,
    WebhookCreate,
    WebhookCreated,
    WebhookPublic,
)
from yoloforge.platform.services import notifications, webhooks

router = APIRouter(tags=["notifications"])
WebhookId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The webhook's id.")]


@router.get("/notifications", **needs("read"))
def list_notifications(
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    unread: Annotated[bool, Query(description="Only unread ones.")] = False,
) -> Page[NotificationPublic]:
    """Your notifications, newest first."""
    rows, total = notifications.list_for(session, principal.user, unread=unread, limit=page.limit, offset=page.offset)
    items = [NotificationPublic.model_validate(n) for n in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/notifications/read", **needs("train"))
def mark_read(body: MarkRead, principal: CurrentUser, session: SessionDep) -> MarkedRead:
    """Mark notifications read (all of them without `ids`)."""
    return MarkedRead(marked=notifications.mark_read(session, principal.user, body.ids))


@router.get("/notifications/settings", **needs("read"))
def get_settings(principal: CurrentUser, session: SessionDep, state: StateDep) -> NotificationSettingsOut:
    """Where your notifications are e-mailed."""
    prefs = session.get(NotificationSettings, principal.user.id)
    return NotificationSettingsOut(email=prefs.email if prefs else None, smtp_configured=bool(state.settings.smtp_host))


@router.put("/notifications/settings", **needs("train"))
def put_settings(
    body: NotificationSettingsIn, principal: CurrentUser, session: SessionDep, state: StateDep
) -> NotificationSettingsOut:
    """Set the address your notifications are e-mailed to (null: none)."""
    prefs = notifications.set_email(session, principal.user.id, body.email)
    return NotificationSettingsOut(email=prefs.email, smtp_configured=bool(state.settings.smtp_host))


@router.get("/webhooks", **needs("read"))
def list_webhooks(principal: CurrentUser, session: SessionDep) -> list[WebhookPublic]:
    """Your webhooks."""
    rows = session.scalars(select(Webhook).where(Webhook.user_id == principal.user.id).order_by(Webhook.id))
    return [WebhookPublic.model_validate(w) for w in rows]


@router.post("/webhooks", status_code=201, **needs("train"))
def create_webhook(body: WebhookCreate, principal: CurrentUser, session: SessionDep) -> WebhookCreated:
    """A new webhook: every notification is POSTed to `url`, signed with the secret returned here (once)."""
    hook, secret = webhooks.create(session, principal.user.id, body.url)
    return WebhookCreated(**WebhookPublic.model_validate(hook).model_dump(), secret=secret)


@router.delete("/webhooks/{webhook_id}", status_code=204, **needs("train"))
def delete_webhook(webhook_id: WebhookId, principal: CurrentUser, session: SessionDep) -> None:
    """Delete a webhook and its delivery log."""
    session.delete(webhooks.find(session, principal.user.id, webhook_id))
    session.commit()


@router.get("/webhooks/{webhook_id}/deliveries", **needs("read"))
def list_deliveries(
    webhook_id: WebhookId, principal: CurrentUser, session: SessionDep, page: PageDep
) -> Page[DeliveryPublic]:
    """The webhook's delivery log, newest first: each delivery's idempotency key, attempts and outcome."""
    hook = webhooks.find(session, principal.user.id, webhook_id)
    where = WebhookDelivery.webhook_id == hook.id
    total = session.scalar(select(func.count()).select_from(WebhookDelivery).where(where)) or 0
    rows = session.scalars(select(WebhookDelivery).where(where).order_by(WebhookDelivery.id.desc())
                           .limit(page.limit).offset(page.offset))  # fmt: skip
    return Page(items=[DeliveryPublic.model_validate(d) for d in rows], total=total, limit=page.limit,
                offset=page.offset)  # fmt: skip
