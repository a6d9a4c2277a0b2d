"""Telling users that a job ended: an in-app list, webhooks and e-mail.

When a job completes, fails, stops, is cancelled or paused, `job_ended` (inside the transaction of that
transition) writes a Notification and one WebhookDelivery per active webhook of the owner. The scheduler loop
then sends what is due (`deliver_due`): webhooks (webhooks.py) and, when SMTP is configured, e-mails.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from yoloforge.platform.db import Job, JobTransition, Notification, NotificationSettings, User, Webhook, utcnow
from yoloforge.utils.log import LOGGER

TITLES = {"completed": "Training completed", "failed": "Training failed", "stopped": "Training stopped",
          "cancelled": "Training cancelled", "paused": "Training paused"}  # fmt: skip
EMAIL_BATCH = 20


def job_ended(session: Session, job: Job, transition: JobTransition) -> Notification:
    """The notification (and webhook deliveries) for a job that just ended (not committed)."""
    from yoloforge.platform.services.webhooks import enqueue

    model = job.model
    ref = f"{model.project.owner.name}/{model.project.name}/{model.name}"
    data = {"model": ref, "state": transition.to_state, "reason": transition.reason, "job_id": job.id,
            "attempt": job.attempt, "gpu_type": job.gpu_type, "at": transition.at.isoformat()}  # fmt: skip
    note = Notification(
        user_id=job.user_id,
        kind=f"job.{transition.to_state}",
        title=f"{TITLES.get(transition.to_state, 'Training ended')}: {ref}",
        body=transition.reason,
        data=data,
    )
    session.add(note)
    session.flush()
    enqueue(session, job.user_id, note)
    return note


def list_for(session: Session, user: User, *, unread: bool, limit: int, offset: int) -> tuple[list[Notification], int]:
    """The user's notifications, newest first (only unread ones with `unread`), and their count."""
    where = [Notification.user_id == user.id]
    if unread:
        where.append(Notification.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Notification).where(*where)) or 0
    rows = session.scalars(select(Notification).where(*where).order_by(Notification.id.desc()).limit(limit)
                           .offset(offset))  # fmt: skip
    return list(rows), total


def mark_read(session: Session, user: User, ids: list[int] | None) -> int:
    """Mark the user's notifications `ids` (all when None) read; returns how many changed. Commits."""
    stmt = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if ids is not None:
        stmt = stmt.where(Notification.id.in_(ids))
    n = session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    session.commit()
    return n or 0


def deliver_due(state: Any) -> None:
    """Send due webhook deliveries and, with SMTP configured, pending e-mails (called by the scheduler loop)."""
    from yoloforge.platform.services.webhooks import deliver_due as deliver_webhooks

    deliver_webhooks(state)
    if state.settings.smtp_host:
        send_emails(state)


def send_emails(state: Any) -> int:
    """E-mail pending notifications over SMTP to the address their owner set (PUT /notifications/settings);
    returns how many were sent. Notifications of users without an address are marked `skipped`."""
    s = state.settings
    sent = 0
    with state.db.sessions() as session:
        rows = list(session.scalars(select(Notification).where(Notification.email_state == "pending")
                                    .order_by(Notification.id).limit(EMAIL_BATCH)))  # fmt: skip
        for note in rows:
            prefs = session.get(NotificationSettings, note.user_id)
            to = prefs.email if prefs is not None else None
            if to is None:
                note.email_state = "skipped"
                continue
            msg = EmailMessage()
            msg["From"], msg["To"], msg["Subject"] = s.smtp_from, to, note.title
            msg.set_content(f"{note.title}\n\n{note.body}\n")
            try:
                with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
                    if s.smtp_starttls:
                        smtp.starttls()
                    if s.smtp_user and s.smtp_password:
                        smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
                    smtp.send_message(msg)
                note.email_state, sent = "sent", sent + 1
            except (OSError, smtplib.SMTPException) as e:
                LOGGER.warning("e-mail of notification %d to %s failed: %s", note.id, to, e)
                note.email_state = "failed"
        session.commit()
    return sent


def active_webhooks(session: Session, user_id: int) -> list[Webhook]:
    return list(session.scalars(select(Webhook).where(Webhook.user_id == user_id, Webhook.active.is_(True))))


def set_email(session: Session, user_id: int, email: str | None) -> NotificationSettings:
    """Set (or clear, with None) where the user's notifications are e-mailed. Commits."""
    if email is not None and ("@" not in email or any(c.isspace() for c in email) or len(email) > 320):
        from yoloforge.platform.services.errors import Invalid

        raise Invalid(f"email: {email!r} is not an e-mail address", field="email")
    prefs = session.get(NotificationSettings, user_id)
    if prefs is None:
        prefs = NotificationSettings(user_id=user_id, email=email)
        session.add(prefs)
    else:
        prefs.email = email
    session.commit()
    return prefs
