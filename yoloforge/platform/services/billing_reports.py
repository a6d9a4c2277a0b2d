"""What an account reads about its money: the summary, the ledger page by page, a model's cost breakdown,
and the CSV report (one row per ledger entry)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoloforge.platform.db import BillingAccount, LedgerEntry, Model, UsageRecord, utcnow
from yoloforge.platform.services import ledger

CSV_COLUMNS = (
    "date_utc", "entry", "kind", "description", "job", "model", "gpu_type", "epoch", "seconds",
    "rate_usd_per_hour", "amount_usd", "balance_usd",
)  # fmt: skip
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet would evaluate a text cell starting so (OWASP)


@dataclass(frozen=True)
class Summary:
    balance_cents: int
    month_spend_cents: int
    month_gpu_us: int
    pay_per_job: bool
    auto_resume: bool
    month_by_model: list[tuple[str, int, int]]  # (owner/project/model, cents spent, ledger lines), most first


def month_start(now: dt.datetime | None = None) -> dt.datetime:
    """Midnight UTC on the first day of `now`'s month."""
    now = now or utcnow()
    return now.astimezone(dt.timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def summary(session: Session, user_id: int) -> Summary:
    """Balance, this calendar month's (UTC) spend (charges and payments), by model, and GPU time, and the account's
    plan."""
    since = month_start()
    spend = session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.account_id == user_id, LedgerEntry.kind.in_(("charge", "payment")),
            LedgerEntry.created_at >= since,
        )
    )  # fmt: skip
    gpu = session.scalar(
        select(func.coalesce(func.sum(UsageRecord.duration_us), 0)).where(
            UsageRecord.account_id == user_id, UsageRecord.ended_at >= since
        )
    )
    by_model = session.execute(
        select(LedgerEntry.model_ref, func.sum(LedgerEntry.amount_cents), func.count()).where(
            LedgerEntry.account_id == user_id, LedgerEntry.kind.in_(("charge", "payment")),
            LedgerEntry.created_at >= since,
        ).group_by(LedgerEntry.model_ref)
    ).all()  # fmt: skip
    account = session.get(BillingAccount, user_id)
    return Summary(
        balance_cents=ledger.balance_cents(session, user_id),
        month_spend_cents=-int(spend or 0),
        month_gpu_us=int(gpu or 0),
        pay_per_job=bool(account and account.pay_per_job),
        auto_resume=bool(account and account.auto_resume),
        month_by_model=sorted(((m or "", -int(c), int(n)) for m, c, n in by_model), key=lambda r: (-r[1], r[0])),
    )


def ledger_page(session: Session, user_id: int, *, limit: int, offset: int) -> tuple[list[LedgerEntry], int]:
    """The account's ledger rows, newest first, and their count."""
    where = LedgerEntry.account_id == user_id
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(where)) or 0
    rows = session.scalars(select(LedgerEntry).where(where).order_by(LedgerEntry.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def model_usage(session: Session, model: Model) -> list[UsageRecord]:
    """Every billed interval of the model's jobs, in order."""
    return list(session.scalars(select(UsageRecord).where(UsageRecord.model_id == model.id).order_by(UsageRecord.id)))


def entries_between(session: Session, user_id: int, start: dt.date | None, end: dt.date | None) -> list[LedgerEntry]:
    """The account's ledger rows dated from `start` to `end` (both days included, UTC), oldest first."""
    query = select(LedgerEntry).where(LedgerEntry.account_id == user_id)
    if start is not None:
        query = query.where(LedgerEntry.created_at >= _midnight(start))
    if end is not None and end < dt.date.max:
        query = query.where(LedgerEntry.created_at < _midnight(end + dt.timedelta(days=1)))
    return list(session.scalars(query.order_by(LedgerEntry.id)))


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def safe_text(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting with = + - @ TAB CR gets a leading apostrophe."""
    return f"'{value}" if value.startswith(FORMULA_START) else value


def seconds_text(duration_us: int | None) -> str:
    """Microseconds as plain decimal seconds with 3 places ('' when None)."""
    return "" if duration_us is None else str((Decimal(duration_us) / 1_000_000).quantize(Decimal("0.001")))


def rate_text(rate_microusd: int | None) -> str:
    """Micro-USD per hour as plain decimal USD ('' when None): 1140000 -> '1.14'."""
    if rate_microusd is None:
        return ""
    value = Decimal(rate_microusd) / 1_000_000
    cents = value.quantize(Decimal("0.01"))
    return str(cents if value == cents else value.normalize())


def csv_row(e: LedgerEntry) -> list[str]:
    """One ledger entry as report cells: the UTC time as ISO 8601 with a space ('2026-11-02 09:00:00', which
    spreadsheets read as a date and time), plain decimals, text made formula-safe."""
    return [
        e.created_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S"),
        str(e.id), e.kind, safe_text(e.note), "" if e.job_id is None else str(e.job_id), safe_text(e.model_ref),
        safe_text(e.gpu_type or ""), "" if e.epoch is None else str(e.epoch), seconds_text(e.duration_us),
        rate_text(e.rate_microusd_per_hour), str(ledger.usd(e.amount_cents)), str(ledger.usd(e.balance_after_cents)),
    ]  # fmt: skip


def report_csv(entries: list[LedgerEntry]) -> str:
    """The CSV report: a header row, then one row per entry (csv module quoting, CRLF line ends as RFC 4180)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(e) for e in entries)
    return buf.getvalue()
