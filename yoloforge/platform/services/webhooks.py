"""Webhooks: each notification POSTed as JSON to the user's endpoints, signed, retried with backoff, logged.

Headers of every attempt of a delivery:
    X-Yoloforge-Event: job.completed (the notification's kind)
    X-Yoloforge-Delivery: <idempotency key>  the same on every retry of this delivery: receivers drop repeats
    X-Yoloforge-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the webhook's secret>
    X-Yoloforge-Timestamp: <unix seconds>    signed too, so a captured request cannot be replayed later
(the scheme of Stripe's and GitHub's webhooks). A 2xx answer delivers it; anything else is retried after
BACKOFF[attempt] seconds, up to len(BACKOFF) + 1 attempts, then `failed`. Every attempt's status is kept.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Notification, Webhook, WebhookDelivery, utcnow
from yoloforge.platform.services.errors import Invalid, NotFound

BACKOFF = (1, 5, 30, 120, 600)  # seconds before retry 1, 2, ...
TIMEOUT = 10.0
BATCH = 50


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={mac}"


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """What a receiver does: compare the signature in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def create(session: Session, user_id: int, url: str) -> tuple[Webhook, str]:
    """A new webhook for `url` (http or https); returns it and its signing secret (shown once). Commits."""
    if not url.startswith(("http://", "https://")):
        raise Invalid(f"webhook url {url!r} must start with http:// or https://", field="url")
    secret = "whsec_" + secrets.token_urlsafe(32)
    hook = Webhook(user_id=user_id, url=url, secret=secret)
    session.add(hook)
    session.commit()
    return hook, secret


def find(session: Session, user_id: int, webhook_id: int) -> Webhook:
    hook = session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user_id:
        raise NotFound(f"webhook {webhook_id} not found")
    return hook


def enqueue(session: Session, user_id: int, note: Notification) -> None:
    """A pending delivery of `note` to each of the user's active webhooks (not committed)."""
    from yoloforge.platform.services.notifications import active_webhooks

    payload = {"id": note.id, "kind": note.kind, "title": note.title, "body": note.body, "data": note.data,
               "created_at": note.created_at.isoformat()}  # fmt: skip
    for hook in active_webhooks(session, user_id):
        session.add(WebhookDelivery(webhook_id=hook.id, idempotency_key=uuid.uuid4().hex, event=note.kind,
                                    payload=payload, next_attempt_at=utcnow()))  # fmt: skip


def attempt(hook: Webhook, delivery: WebhookDelivery, client: httpx.Client) -> tuple[int | None, str | None]:
    """POST one delivery; returns (HTTP status or None, error text or None)."""
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    ts = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": "yoloforge-webhooks",
               "X-Yoloforge-Event": delivery.event, "X-Yoloforge-Delivery": delivery.idempotency_key,
               "X-Yoloforge-Timestamp": str(ts), "X-Yoloforge-Signature": sign(hook.secret, ts, body)}  # fmt: skip
    try:
        r = client.post(hook.url, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as e:
        return None, f"{type(e).__name__}: {e}"[:500]
    return r.status_code, None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}: {r.text[:200]}"


def deliver_due(state: Any, now: dt.datetime | None = None) -> int:
    """Send every delivery whose time has come; returns how many succeeded. Commits after each."""
    with state.db.sessions() as session:
        due = list(session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.status == "pending",
                                          WebhookDelivery.next_attempt_at <= (now or utcnow()))
            .order_by(WebhookDelivery.next_attempt_at).limit(BATCH)
        ))  # fmt: skip
        if not due:
            return 0  # the usual case, every second: no client (building its TLS context costs ~10 ms of CPU)
        with httpx.Client() as client:
            return _deliver(session, due, client)


def _deliver(session: Any, due: list[WebhookDelivery], client: httpx.Client) -> int:
    delivered = 0
    for d in due:
        code, error = attempt(d.webhook, d, client)
        d.attempts += 1
        d.last_status_code, d.last_error = code, error
        if error is None:
            d.status, d.delivered_at, d.next_attempt_at = "delivered", utcnow(), None
            delivered += 1
        elif d.attempts > len(BACKOFF):
            d.status, d.next_attempt_at = "failed", None
        else:
            d.next_attempt_at = utcnow() + dt.timedelta(seconds=BACKOFF[d.attempts - 1])
        session.commit()
    return delivered
