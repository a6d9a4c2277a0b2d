"""Metering from job transitions and epoch events: what is billed, what is free, how rows add up, when a job
pauses, and pay-per-job payments. Runs on SQLite and PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.platform.support.billing import at, job_facts, make_model, make_user


def _run(session, facts, events):
    """Drive (kind, arg, seconds) events through the meter, committing after each like the callers do."""
    from yoloforge.platform.db import Model
    from yoloforge.platform.services import metering

    outcomes, state = [], None
    for kind, arg, t in events:
        if kind == "to":
            outcomes.append(metering.on_transition(session, facts, state, arg, at(t)))
            state = arg
        elif kind == "epoch":
            outcomes.append(metering.on_epoch_end(session, session.get(Model, facts.model_id), arg, at(t)))
        elif kind == "runstart":
            metering.on_run_start(session, session.get(Model, facts.model_id), at(t))
        session.commit()
    return outcomes


def _usage(session, job_id):
    from yoloforge.platform.db import UsageRecord

    return list(session.scalars(select(UsageRecord).where(UsageRecord.job_id == job_id).order_by(UsageRecord.id)))


def _charges(session, user_id):
    from yoloforge.platform.db import LedgerEntry

    q = select(LedgerEntry).where(LedgerEntry.account_id == user_id, LedgerEntry.kind.in_(("charge", "payment")))
    return list(session.scalars(q.order_by(LedgerEntry.id)))


def test_only_running_time_is_billed_and_rows_add_up(db) -> None:
    from yoloforge.platform.services import ledger

    with db.sessions() as s:
        user = make_user(s, "ann", welcome_cents=10_000)
        model = make_model(s, user)
        facts = job_facts(user, model, rate="1.14")  # an L40S
        _run(s, facts, [("to", "queued", 0), ("to", "starting", 30), ("to", "downloading", 95),
                        ("to", "running", 160), ("runstart", None, 171.5), ("epoch", 0, 215.25),
                        ("epoch", 1, 270.125), ("epoch", 2, 333.0), ("to", "completed", 341.0)])  # fmt: skip
        rows = _usage(s, facts.job_id)
        assert [(r.kind, r.epoch) for r in rows] == [("setup", None), ("epoch", 0), ("epoch", 1), ("epoch", 2),
                                                     ("final", 2)]  # fmt: skip
        assert [r.duration_us for r in rows] == [11_500_000, 43_750_000, 54_875_000, 62_875_000, 8_000_000]
        billed_s = Decimal(341 - 160)  # queueing, provisioning and the download are free
        exact = Decimal("1.14") * billed_s / 3600 * 100  # cents
        total = sum(r.cost_cents for r in rows)
        assert abs(total - exact) <= Decimal("0.5")
        charges = _charges(s, user.id)
        assert [-c.amount_cents for c in charges] == [r.cost_cents for r in rows]
        assert ledger.balance_cents(s, user.id) == 10_000 - total


def test_failing_before_the_first_epoch_costs_nothing(db) -> None:
    from yoloforge.platform.services import ledger

    with db.sessions() as s:
        user = make_user(s, "bea")
        facts = job_facts(user, make_model(s, user), rate="3.99")
        _run(s, facts, [("to", "queued", 0), ("to", "starting", 5), ("to", "downloading", 10),
                        ("to", "running", 20), ("runstart", None, 40), ("to", "failed", 900)])  # fmt: skip
        assert _usage(s, facts.job_id) == [] and _charges(s, user.id) == []
        assert ledger.balance_cents(s, user.id) == 500


def test_stop_charges_the_saved_partial_epoch_and_a_crash_does_not(db) -> None:
    with db.sessions() as s:
        user = make_user(s, "cy", welcome_cents=100_000)
        facts = job_facts(user, make_model(s, user), rate="3.60")  # 0.1 cent per second
        _run(s, facts, [("to", "running", 0), ("epoch", 0, 100), ("to", "stopped", 130),  # partial 30 s: saved
                        ("to", "queued", 500), ("to", "running", 600), ("epoch", 1, 680),  # resumed
                        ("to", "retrying", 700), ("to", "running", 800), ("epoch", 1, 850),  # crash: 20 s free
                        ("epoch", 2, 950), ("to", "completed", 950)])  # fmt: skip
        rows = _usage(s, facts.job_id)
        assert [(r.kind, r.epoch, r.duration_us // 1_000_000) for r in rows] == [
            ("epoch", 0, 100), ("partial", 1, 30), ("epoch", 1, 80), ("epoch", 2, 150), ("final", 2, 0)]  # fmt: skip
        assert sum(r.cost_cents for r in rows) == 36  # 360 s at 0.1 cent/s; the replayed epoch 1 is not charged


def test_rate_is_the_one_at_submission(db) -> None:
    from dataclasses import replace

    with db.sessions() as s:
        user = make_user(s, "dee", welcome_cents=100_000)
        facts = job_facts(user, make_model(s, user), rate="3.60")
        _run(s, facts, [("to", "queued", 0)])
        repriced = replace(facts, rate_per_hour=Decimal("7.20"))  # the catalog changed while it queued
        _run(s, repriced, [("to", "running", 10), ("epoch", 0, 1010), ("to", "completed", 1010)])
        assert sum(r.cost_cents for r in _usage(s, facts.job_id)) == 100


def test_rounding_per_row_still_sums_to_the_rounded_total(db) -> None:
    with db.sessions() as s:
        user = make_user(s, "eve", welcome_cents=100_000)
        facts = job_facts(user, make_model(s, user), rate="0.44")  # RTX 3090: 0.0122 cent/s
        events = [("to", "running", 0)] + [("epoch", e, 7.3 * (e + 1)) for e in range(50)]
        _run(s, facts, [*events, ("to", "completed", 7.3 * 50)])
        rows = _usage(s, facts.job_id)
        assert all(r.cost_cents in (0, 1) for r in rows)  # each epoch is a fraction of a cent
        from yoloforge.platform.services.metering import cost_cents

        assert sum(r.cost_cents for r in rows) == cost_cents(440_000, 365_000_000) == 4  # 365 s at $0.44/h


def test_low_balance_pauses_at_the_epoch_end_and_free_types_never_do(db) -> None:
    from yoloforge.platform.services import ledger

    with db.sessions() as s:
        user = make_user(s, "fay", welcome_cents=500)
        facts = job_facts(user, make_model(s, user, "paid"), rate="36.00")  # 1 cent per second
        out = _run(s, facts, [("to", "running", 0), ("epoch", 0, 200), ("epoch", 1, 400)])
        assert out[1].pause_reason is None  # $3.00 left covers another 200 s epoch ($2.00)
        assert "cannot cover the next epoch" in out[2].pause_reason and "$1.00" in out[2].pause_reason
        _run(s, facts, [("to", "paused", 403)])  # the 3 s the worker took to act on the pause are free
        assert ledger.balance_cents(s, user.id) == 500 - 400
        free = job_facts(user, make_model(s, user, "free"), rate="0")
        out = _run(s, free, [("to", "running", 0), ("epoch", 0, 5000), ("epoch", 1, 10000)])
        assert all(o.pause_reason is None for o in out)
        assert [r.cost_cents for r in _usage(s, free.job_id)] == [0, 0]  # GPU time recorded, nothing charged
        assert ledger.balance_cents(s, user.id) == 100


def test_pay_per_job_pays_once_at_the_end(db) -> None:
    from yoloforge.platform.services import billing_rules, ledger

    with db.sessions() as s:
        user = make_user(s, "gus", welcome_cents=0)
        billing_rules.set_preferences(s, user, pay_per_job=True)
        billing_rules.check_can_start(s, user, Decimal("3.99"))  # no minimum balance for pay-per-job
        facts = job_facts(user, make_model(s, user), rate="36.00")
        out = _run(s, facts, [("to", "running", 0), ("epoch", 0, 300), ("epoch", 1, 600), ("to", "completed", 610)])
        assert all(o.pause_reason is None for o in out)
        charges = _charges(s, user.id)
        assert [(c.kind, c.amount_cents) for c in charges] == [("payment", -610)]
        assert ledger.balance_cents(s, user.id) == -610


def test_start_gate_names_the_balance_and_the_amount_needed(db) -> None:
    from yoloforge.platform.services import billing_rules, ledger
    from yoloforge.platform.services.errors import PaymentRequired

    class Gpu:
        name, rate_per_hour = "A100 80GB", "1.99"

    with db.sessions() as s:
        user = make_user(s, "hal", welcome_cents=320)
        with pytest.raises(PaymentRequired) as e:
            billing_rules.check_can_start(s, user, Gpu())
        assert e.value.status == 402
        assert "balance $3.20 is below the $5.00 needed" in e.value.message and "add $1.80" in e.value.message
        billing_rules.check_can_start(s, user, Decimal("0"))  # free types always start
        ledger.add_credit(s, user, "top_up", "1.80")
        billing_rules.check_can_start(s, user, Gpu())
        low = billing_rules.BillingPolicy(min_start_cents=10_000)
        with pytest.raises(PaymentRequired, match=r"below the \$100.00 needed"):
            billing_rules.check_can_start(s, user, Gpu(), policy=low)


def test_auto_resume_after_a_top_up_only_when_chosen(db) -> None:
    from yoloforge.platform.services import billing_rules, ledger

    with db.sessions() as s:
        user = make_user(s, "ida", welcome_cents=500)
        facts = job_facts(user, make_model(s, user), rate="36.00")
        out = _run(s, facts, [("to", "running", 0), ("epoch", 0, 450)])
        assert out[-1].pause_reason
        _run(s, facts, [("to", "paused", 452)])
        ledger.add_credit(s, user, "top_up", "20")
        assert billing_rules.resumable_after_top_up(s, user.id) == []  # not chosen
        billing_rules.set_preferences(s, user, auto_resume=True)
        assert billing_rules.resumable_after_top_up(s, user.id) == [facts.job_id]
