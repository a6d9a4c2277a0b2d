"""The ledger: the welcome grant once, credits, the balance as the sum, rows that never change (the database
refuses UPDATE and DELETE), and exact balances under concurrent charges (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from tests.platform.support.billing import at, job_facts, make_model, make_user


def _rows(session, user_id):
    from yoloforge.platform.db import LedgerEntry

    return list(session.scalars(select(LedgerEntry).where(LedgerEntry.account_id == user_id).order_by(LedgerEntry.id)))


def _check_chain(rows) -> None:
    running = 0
    for row in rows:
        running += row.amount_cents
        assert row.balance_after_cents == running, f"entry {row.id}: balance_after differs from the running sum"


def test_welcome_grant_once_and_credits(db) -> None:
    from yoloforge.platform.services import accounts, ledger

    with db.sessions() as s:
        user = accounts.create_user(s, "ana", "password-123")
        assert ledger.open_account(s, user.id, 500).id == _rows(s, user.id)[0].id  # a second call: same row
        ledger.add_credit(s, user, "top_up", "12.50", note="invoice 7")
        ledger.add_credit(s, user, "refund", Decimal("0.05"), key="refund:job9")
        ledger.add_credit(s, user, "refund", Decimal("0.05"), key="refund:job9")  # retried: no second refund
        rows = _rows(s, user.id)
        assert [(r.kind, r.amount_cents) for r in rows] == [("grant", 500), ("top_up", 1250), ("refund", 5)]
        assert ledger.balance_cents(s, user.id) == 1755 == sum(r.amount_cents for r in rows)
        _check_chain(rows)
        other = accounts.create_user(s, "ben", "password-123", welcome_cents=0)
        assert _rows(s, other.id) == [] and ledger.balance_cents(s, other.id) == 0


@pytest.mark.parametrize("amount", ["0", "-5", "1.001", "abc", "NaN", "100000.01"])
def test_bad_credit_amounts_are_refused_with_the_field(db, amount) -> None:
    from yoloforge.platform.services import ledger
    from yoloforge.platform.services.errors import Invalid

    with db.sessions() as s:
        user = make_user(s, "cat")
        with pytest.raises(Invalid) as e:
            ledger.add_credit(s, user, "top_up", amount)
        assert e.value.field == "amount" and "amount" in e.value.message
        assert ledger.balance_cents(s, user.id) == 500


def test_ledger_rows_never_change(db) -> None:
    """The database itself refuses UPDATE and DELETE of ledger and usage rows; a whole job's billing leaves
    every earlier row exactly as it was."""
    from yoloforge.platform.services import metering

    with db.sessions() as s:
        user = make_user(s, "dan", welcome_cents=10_000)
        facts = job_facts(user, make_model(s, user))
        before = [(r.id, r.kind, r.amount_cents, r.balance_after_cents, r.key) for r in _rows(s, user.id)]
        metering.on_transition(s, facts, None, "running", at(0))
        metering.on_epoch_end(s, facts, 0, at(60))
        metering.on_transition(s, facts, "running", "completed", at(61))
        s.commit()
        after = [(r.id, r.kind, r.amount_cents, r.balance_after_cents, r.key) for r in _rows(s, user.id)]
        assert after[: len(before)] == before and len(after) == len(before) + 2
    for table in ("ledger_entries", "usage_records"):
        for sql in (f"UPDATE {table} SET created_at = created_at", f"DELETE FROM {table}"):
            with db.engine.connect() as conn, pytest.raises(DBAPIError, match="append-only"):
                conn.execute(text(sql))
    with db.sessions() as s:
        assert [(r.id, r.kind, r.amount_cents, r.balance_after_cents, r.key) for r in _rows(s, user.id)] == after


def test_concurrent_charges_and_top_ups_stay_exact(db) -> None:
    """8 threads (own connections) bill 4 parallel jobs of one account epoch by epoch while others top up:
    the balance is the exact sum, and each row's balance_after is the running sum in commit order."""
    from yoloforge.platform.services import ledger, metering

    with db.sessions() as s:
        user = make_user(s, "eli", welcome_cents=100_000)
        models = [make_model(s, user, f"m{i}") for i in range(4)]
        jobs = [job_facts(user, m, rate="36.00") for m in models]  # 1 cent per second
        for job in jobs:
            metering.on_transition(s, job, None, "running", at(0))
        s.commit()
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def bill(job) -> None:
        try:
            start.wait()
            for epoch in range(10):
                with db.session() as s:
                    metering.on_epoch_end(s, job, epoch, at(10 * (epoch + 1)))
                    metering.on_epoch_end(s, job, epoch, at(10 * (epoch + 1)))  # a replay in the same transaction
        except BaseException as e:
            errors.append(e)

    def top_up(n: int) -> None:
        try:
            start.wait()
            for i in range(10):
                with db.sessions() as s:
                    ledger.add_credit(s, s.get(type(user), user.id), "top_up", "1.00", key=f"t{n}-{i}")
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=bill, args=(j,)) for j in jobs]
    threads += [threading.Thread(target=top_up, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    with db.sessions() as s:
        rows = _rows(s, user.id)
        _check_chain(rows)
        charges = [r for r in rows if r.kind == "charge"]
        assert len(charges) == 40 and all(r.amount_cents == -10 for r in charges)
        assert ledger.balance_cents(s, user.id) == 100_000 - 40 * 10 + 40 * 100
