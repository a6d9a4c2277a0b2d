"""The ledger: append-only money movements per account; the balance is their sum.

Amounts are integer cents (credits > 0, charges < 0). Every write goes through `append`, which must run
under the account's lock (`lock_account`): the lock row's UPDATE is the transaction's first write, so on
SQLite it takes the database's write lock (what BEGIN IMMEDIATE would) and on PostgreSQL the row lock
(what SELECT ... FOR UPDATE would). Concurrent writers to one account therefore queue, and each reads
the balance its predecessors left: `balance_after_cents` of every row is the running sum, exactly.
Each row has a unique idempotency `key`: writing a key twice returns the first row and moves no money.
No function here updates or deletes a ledger row (the database refuses it too: migration 0004).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from yoloforge.platform.db import BillingAccount, LedgerEntry, User
from yoloforge.platform.db.billing import LEDGER_KINDS
from yoloforge.platform.services.errors import Invalid

CENT = Decimal("0.01")
MAX_CREDIT_CENTS = 10_000_000  # $100,000: one top-up or refund above this is surely a typo


def usd(cents: int) -> Decimal:
    """Cents as a USD Decimal with two places: 1234 -> Decimal('12.34')."""
    return (Decimal(cents) / 100).quantize(CENT)


def format_usd(cents: int) -> str:
    """'$12.34' or '-$0.05'."""
    return f"{'-' if cents < 0 else ''}${usd(abs(cents))}"


def to_cents(amount: Decimal | str | int, field: str = "amount") -> int:
    """A USD amount ('12.5', Decimal('12.50'), 12) as cents; Invalid when not a number or finer than a cent."""
    try:
        value = Decimal(str(amount).strip().lstrip("$"))
    except InvalidOperation:
        raise Invalid(f"{field} {amount!r} is not a number: give USD like 10 or 12.50", field=field) from None
    if not value.is_finite() or value != value.quantize(CENT):
        raise Invalid(f"{field} {amount!r} must be USD with at most 2 decimal places, e.g. 12.50", field=field)
    return int(value * 100)


def credit_cents(amount: Decimal | str | int, field: str = "amount") -> int:
    """A positive credit amount in cents (top-up, refund), at most MAX_CREDIT_CENTS."""
    cents = to_cents(amount, field)
    if cents <= 0:
        raise Invalid(f"{field} must be more than 0, e.g. 10.00", field=field)
    if cents > MAX_CREDIT_CENTS:
        raise Invalid(f"{field} {format_usd(cents)} is over the {format_usd(MAX_CREDIT_CENTS)} limit", field=field)
    return cents


def lock_account(session: Session, user_id: int) -> BillingAccount:
    """Create the account's billing row if missing and lock it for the rest of the transaction.

    Do this before reading the balance; the caller's commit or rollback releases the lock.
    """
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(BillingAccount).values(user_id=user_id, pay_per_job=False, auto_resume=False, lock_seq=0)
        session.execute(stmt.on_conflict_do_nothing(index_elements=["user_id"]))
    elif session.get(BillingAccount, user_id) is None:  # other databases: best effort
        session.add(BillingAccount(user_id=user_id))
        session.flush()
    session.execute(
        update(BillingAccount)
        .where(BillingAccount.user_id == user_id)
        .values(lock_seq=BillingAccount.lock_seq + 1)
        .execution_options(synchronize_session=False)
    )
    account = session.scalar(
        select(BillingAccount).where(BillingAccount.user_id == user_id).execution_options(populate_existing=True)
    )
    assert account is not None
    return account


def balance_cents(session: Session, user_id: int) -> int:
    """The account's balance: the sum of its ledger rows (0 for an account without rows)."""
    return int(session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
        LedgerEntry.account_id == user_id)) or 0)  # fmt: skip


def append(session: Session, user_id: int, kind: str, amount_cents: int, key: str, **fields: object) -> LedgerEntry:
    """Add one row (under the account's lock, taken by the caller); an existing `key` returns its row unchanged.

    `fields` are LedgerEntry columns (note, job_id, model_id, model_ref, gpu_type, epoch, duration_us,
    rate_microusd_per_hour, usage_id, actor_id). Flushes; the caller commits.
    """
    if kind not in LEDGER_KINDS:
        raise ValueError(f"ledger kind {kind!r} is not one of {LEDGER_KINDS}")
    existing = session.scalar(select(LedgerEntry).where(LedgerEntry.key == key))
    if existing is not None:
        return existing
    balance = balance_cents(session, user_id)
    entry = LedgerEntry(
        account_id=user_id, kind=kind, amount_cents=amount_cents, balance_after_cents=balance + amount_cents,
        key=key, **fields,
    )  # fmt: skip
    session.add(entry)
    session.flush()
    return entry


def open_account(session: Session, user_id: int, welcome_cents: int) -> LedgerEntry | None:
    """The account's billing row and, once ever, its welcome grant (key `grant:welcome:<user id>`). Commits.

    Source of the $5 default: the cloud-training docs ("new accounts receive $5 of credit").
    """
    lock_account(session, user_id)
    entry = None
    if welcome_cents > 0:
        entry = append(session, user_id, "grant", welcome_cents, f"grant:welcome:{user_id}", note="welcome credit")
    session.commit()
    return entry


def add_credit(
    session: Session, user: User, kind: str, amount: Decimal | str | int, *, note: str = "", actor: User | None = None,
    key: str | None = None, job_id: int | None = None,
) -> LedgerEntry:  # fmt: skip
    """A top-up or refund of `amount` USD to `user` (by `actor`, an admin); commits and returns the row.

    `key` makes a retried request harmless (default: a new random key, every call is a new credit).
    """
    import uuid

    if kind not in ("top_up", "refund"):
        raise ValueError(f"credit kind {kind!r} must be top_up or refund")
    cents = credit_cents(amount)
    lock_account(session, user.id)
    entry = append(
        session, user.id, kind, cents, key or f"{kind}:{uuid.uuid4().hex}", note=note[:2000],
        actor_id=actor.id if actor else None, job_id=job_id,
    )  # fmt: skip
    session.commit()
    return entry
