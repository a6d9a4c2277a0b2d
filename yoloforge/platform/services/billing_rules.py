"""Billing rules around jobs: the start/resume gate, auto-resume after a top-up, and an account's choices.

Sources: the cloud-training docs ("a minimum balance of $5.00 to start epoch-based training", "after
adding credits training can be resumed", "payment from the account balance or per job (charged at
completion)"). The amounts are settings (`welcome_credit`, `min_start_balance`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import BillingAccount, JobMeter, User
from yoloforge.platform.services import ledger
from yoloforge.platform.services.errors import PaymentRequired
from yoloforge.platform.services.metering import next_epoch_cents, rate_micro

DEFAULT_WELCOME_CENTS = 500  # the docs: "new accounts receive $5 of credit"
DEFAULT_MIN_START_CENTS = 500  # the docs: "a minimum balance of $5.00 to start epoch-based training"


@dataclass(frozen=True)
class BillingPolicy:
    """The amounts the rules use, in cents."""

    welcome_cents: int = DEFAULT_WELCOME_CENTS
    min_start_cents: int = DEFAULT_MIN_START_CENTS

    @classmethod
    def from_settings(cls, settings: Any) -> BillingPolicy:
        """From ServerSettings (`welcome_credit`, `min_start_balance` in USD)."""
        return cls(ledger.to_cents(settings.welcome_credit), ledger.to_cents(settings.min_start_balance))


def rate_of(gpu_type: Any) -> Decimal:
    """The USD hourly rate of a GPU type: a Decimal/str/int itself, or its `rate_per_hour`/`hourly_usd`/... field."""
    if isinstance(gpu_type, (Decimal, str, int)):
        return Decimal(str(gpu_type))
    for name in ("rate_per_hour", "hourly_usd", "hourly_rate", "rate"):
        value = getattr(gpu_type, name, None)
        if value is not None:
            return Decimal(str(value))
    raise AttributeError(f"GPU type {gpu_type!r} has no hourly rate (rate_per_hour, hourly_rate or rate)")


def check_can_start(session: Session, user: User, gpu_type: Any, *, policy: BillingPolicy | None = None) -> None:
    """Allow starting or resuming a job of `user` on `gpu_type`, or raise PaymentRequired (HTTP 402).

    Free types (rate 0) and pay-per-job accounts always pass; otherwise the balance must be at least
    `policy.min_start_cents`. The message names the balance, the amount needed and how to add credit.
    """
    policy = policy or BillingPolicy()
    rate = rate_of(gpu_type)
    if rate_micro(rate) == 0:
        return
    account = session.get(BillingAccount, user.id)
    if account is not None and account.pay_per_job:
        return
    balance = ledger.balance_cents(session, user.id)
    if balance >= policy.min_start_cents:
        return
    name = getattr(gpu_type, "name", "this GPU type")
    raise PaymentRequired(
        f"balance {ledger.format_usd(balance)} is below the {ledger.format_usd(policy.min_start_cents)} needed to "
        f"start training on {name} (${rate}/h): add {ledger.format_usd(policy.min_start_cents - balance)} or more "
        f"(an admin: `yoloforge server top-up {user.name} AMOUNT`), or pick a free GPU type"
    )


def resumable_after_top_up(session: Session, user_id: int, policy: BillingPolicy | None = None) -> list[int]:
    """Job ids of `user_id` paused for balance that should resume now: the account chose auto-resume and the
    balance covers both the start minimum and one more epoch of each (oldest first, while it lasts)."""
    policy = policy or BillingPolicy()
    account = session.get(BillingAccount, user_id)
    if account is None or not account.auto_resume:
        return []
    meters = session.scalars(
        select(JobMeter)
        .where(JobMeter.account_id == user_id, JobMeter.state == "paused", JobMeter.pause_reason.is_not(None))
        .order_by(JobMeter.id)
    )
    balance, out = ledger.balance_cents(session, user_id), []
    for meter in meters:
        if balance < max(policy.min_start_cents, next_epoch_cents(meter)):
            break
        out.append(meter.job_id)
        balance -= next_epoch_cents(meter)
    return out


def set_preferences(
    session: Session, user: User, *, auto_resume: bool | None = None, pay_per_job: bool | None = None
) -> BillingAccount:
    """Change an account's choices (pay_per_job is for admins to set: the routes check it). Commits."""
    account = ledger.lock_account(session, user.id)
    if auto_resume is not None:
        account.auto_resume = auto_resume
    if pay_per_job is not None:
        account.pay_per_job = pay_per_job
    session.commit()
    return account
