"""Billing tables: the per-account row (plan, preferences, lock), the append-only ledger, the append-only
usage records (billed GPU intervals) and the per-job meter state.

Money is integer cents (signed: credits > 0, charges < 0); rates are micro-USD per hour; durations are
microseconds. No column holds a float. `ledger_entries` and `usage_records` are append-only: migration
0004 installs triggers that refuse UPDATE and DELETE on both SQLite and PostgreSQL, and no code path
issues either. Job ids are plain integers (no foreign key): the jobs table comes from another migration,
and a ledger row must outlive any job or model it mentions.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from yoloforge.platform.db.base import Base, utcnow

LEDGER_KINDS = ("grant", "top_up", "charge", "refund", "payment")
USAGE_KINDS = ("setup", "epoch", "partial", "final")


class BillingAccount(Base):
    """One per user: how it pays and what it chose; `lock_seq` is bumped first by every money write (the lock)."""

    __tablename__ = "billing_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    pay_per_job: Mapped[bool] = mapped_column(default=False)
    auto_resume: Mapped[bool] = mapped_column(default=False)
    lock_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One money movement; the balance is the sum of `amount_cents` of an account's rows."""

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    balance_after_cents: Mapped[int] = mapped_column(BigInteger)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    note: Mapped[str] = mapped_column(Text, default="")
    job_id: Mapped[int | None] = mapped_column(index=True)
    model_id: Mapped[int | None] = mapped_column()
    model_ref: Mapped[str] = mapped_column(String(200), default="")
    gpu_type: Mapped[str | None] = mapped_column(String(64))
    epoch: Mapped[int | None] = mapped_column()
    duration_us: Mapped[int | None] = mapped_column(BigInteger)
    rate_microusd_per_hour: Mapped[int | None] = mapped_column(BigInteger)
    usage_id: Mapped[int | None] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column()


class UsageRecord(Base):
    """One billed interval of a job's running time: `setup` (running start to the first epoch's start),
    `epoch` (to an epoch's end), `partial` (an epoch cut by a stop or pause that saved it), `final`
    (after the last epoch until completion). `cost_cents` is this row's share of the job's rounded total."""

    __tablename__ = "usage_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    job_id: Mapped[int] = mapped_column(index=True)
    attempt: Mapped[int] = mapped_column()
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    model_id: Mapped[int | None] = mapped_column(index=True)
    model_ref: Mapped[str] = mapped_column(String(200), default="")
    gpu_type: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    epoch: Mapped[int | None] = mapped_column()
    started_at: Mapped[dt.datetime] = mapped_column()
    ended_at: Mapped[dt.datetime] = mapped_column()
    duration_us: Mapped[int] = mapped_column(BigInteger)
    rate_microusd_per_hour: Mapped[int] = mapped_column(BigInteger)
    cost_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class JobMeter(Base):
    """What the meter knows of one job between events (the only mutable billing state besides the account).

    `open_since` is the start of the running time not yet charged (running start or the last epoch end);
    `run_started_at` marks the first epoch's start inside it (the run-start event), for the `setup` row.
    """

    __tablename__ = "job_meters"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[int | None] = mapped_column(index=True)
    model_ref: Mapped[str] = mapped_column(String(200), default="")
    gpu_type: Mapped[str] = mapped_column(String(64))
    rate_microusd_per_hour: Mapped[int] = mapped_column(BigInteger)
    pay_per_job: Mapped[bool] = mapped_column(default=False)
    attempt: Mapped[int] = mapped_column(default=1)
    segment: Mapped[int] = mapped_column(default=0)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    open_since: Mapped[dt.datetime | None] = mapped_column()
    run_started_at: Mapped[dt.datetime | None] = mapped_column()
    last_epoch: Mapped[int | None] = mapped_column()
    last_epoch_us: Mapped[int | None] = mapped_column(BigInteger)
    billed_us: Mapped[int] = mapped_column(BigInteger, default=0)
    charged_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_us: Mapped[int] = mapped_column(BigInteger, default=0)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
