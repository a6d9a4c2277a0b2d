"""Property test: random sequences of start / epoch / stop / pause / crash / complete / top-up / replay events
driven through the metering and ledger services keep the books right.

Checked after every event: balance == sum(ledger) and every balance_after is the running sum; no epoch
charged twice; the billed time of each job equals the time it ran and saved (nothing for queueing, set-up
of the worker, or a crashed partial epoch); each job's rows add up to round(rate x billed time); a
balance account never goes below zero by more than one epoch's cost (an epoch here includes its set-up and
the batch that finishes after a pause is asked for); a pay-per-job account pays once per job end.
The driver plays jobs' part: one running job per account (the default quota), the start gate, and an
immediate pause when billing asks for one.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.platform.support.billing import at, job_facts, make_model, make_user

MAX_EPOCH_S, MAX_SETUP_S, MAX_BATCH_S = 600, 60, 30
RATES = ("0", "0.44", "3.99", "36.00")
_names = itertools.count()

durations = st.integers(min_value=0, max_value=MAX_EPOCH_S * 1000).map(lambda ms: ms / 1000)
event = st.one_of(
    st.tuples(st.just("start"), st.integers(0, 1), st.integers(0, MAX_SETUP_S * 1000).map(lambda ms: ms / 1000)),
    st.tuples(st.just("epoch"), st.integers(0, 1), durations),
    st.tuples(st.just("epoch"), st.integers(0, 1), durations),
    st.tuples(st.sampled_from(["stop", "crash", "complete"]), st.integers(0, 1), durations),
    st.tuples(st.just("replay"), st.integers(0, 1), st.just(0.0)),
    st.tuples(st.just("topup"), st.integers(1, 2000), st.just(0.0)),
)


@pytest.fixture(scope="module")
def prop_db(tmp_path_factory):
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.db.session import Database

    database = Database(f"sqlite:///{tmp_path_factory.mktemp('prop') / 'billing.db'}")
    upgrade(database.engine)
    yield database
    database.dispose()


@dataclass
class Job:
    facts: object
    model: object
    state: str = "queued"
    epoch: int = -1
    billed_us: int = 0
    done: bool = False


@dataclass
class World:
    t: float = 0.0
    jobs: list[Job] = field(default_factory=list)


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def _move(s, job: Job, to: str, t: float) -> object:
    from yoloforge.platform.services import metering

    out = metering.on_transition(s, job.facts, job.state, to, at(t))
    job.state = to
    return out


def _step(s, world: World, user, op: tuple) -> None:
    from yoloforge.platform.services import billing_rules, ledger, metering
    from yoloforge.platform.services.errors import PaymentRequired

    kind, arg, dur = op
    if kind == "topup":
        ledger.add_credit(s, user, "top_up", Decimal(arg) / 100)
        return
    job = world.jobs[arg]
    running = [j for j in world.jobs if j.state == "running"]
    if kind == "start":
        if job.done or running:  # one running job per account; a completed job does not start again
            return
        try:
            billing_rules.check_can_start(s, user, job.facts.rate_per_hour)
        except PaymentRequired:
            assert ledger.balance_cents(s, user.id) < 500
            return
        for state, wait in (("queued", 5), ("starting", 20), ("downloading", 40)):
            world.t += wait  # free
            _move(s, job, state, world.t)
        _move(s, job, "running", world.t)
        metering.on_run_start(s, job.model, at(world.t + dur))
        return
    if job.state != "running":
        return
    if kind == "replay":
        if job.epoch >= 0:
            metering.on_epoch_end(s, job.model, job.epoch, at(world.t))
        return
    start, world.t = world.t, world.t + dur
    if kind == "epoch":
        job.epoch += 1
        out = metering.on_epoch_end(s, job.model, job.epoch, at(world.t))
        job.billed_us += _us(world.t - start)
        if out.pause_reason:
            world.t += MAX_BATCH_S * (dur / MAX_EPOCH_S)  # the batch in flight finishes, then it saves and pauses
            _move(s, job, "paused", world.t)
            job.billed_us += _us(world.t) - _us(start + dur)
    elif kind == "stop":
        _move(s, job, "stopped", world.t)
        job.billed_us += _us(world.t) - _us(start)
    elif kind == "crash":
        _move(s, job, "retrying", world.t)  # the unsaved partial epoch is free
    elif kind == "complete":
        _move(s, job, "completed", world.t)
        job.billed_us += _us(world.t) - _us(start)
        job.done = True


def _check(s, world: World, user, pay_per_job: bool) -> None:
    from yoloforge.platform.db import LedgerEntry, UsageRecord
    from yoloforge.platform.services import ledger
    from yoloforge.platform.services.metering import cost_cents, rate_micro

    rows = list(s.scalars(select(LedgerEntry).where(LedgerEntry.account_id == user.id).order_by(LedgerEntry.id)))
    running = 0
    for row in rows:
        running += row.amount_cents
        assert row.balance_after_cents == running
    balance = ledger.balance_cents(s, user.id)
    assert balance == running
    epochs = s.execute(
        select(UsageRecord.job_id, UsageRecord.epoch, func.count())
        .where(UsageRecord.account_id == user.id, UsageRecord.kind == "epoch")
        .group_by(UsageRecord.job_id, UsageRecord.epoch)
    ).all()
    assert all(n == 1 for _, _, n in epochs), "an epoch was charged twice"
    worst = 0
    for job in world.jobs:
        usage = list(s.scalars(select(UsageRecord).where(UsageRecord.job_id == job.facts.job_id)))
        billed = sum(u.duration_us for u in usage)
        assert abs(billed - job.billed_us) <= len(usage) + 2, "billed time differs from the running time saved"
        rate = rate_micro(job.facts.rate_per_hour)
        assert sum(u.cost_cents for u in usage) == cost_cents(rate, billed)
        job_rows = [r for r in rows if r.job_id == job.facts.job_id]
        if pay_per_job:
            assert all(r.kind == "payment" for r in job_rows)
            if job.state in ("completed", "stopped"):
                assert -sum(r.amount_cents for r in job_rows) == cost_cents(rate, billed)
        elif rate:
            assert -sum(r.amount_cents for r in job_rows) == cost_cents(rate, billed)
        worst = max(worst, cost_cents(rate, _us(MAX_EPOCH_S + MAX_SETUP_S + MAX_BATCH_S)) + 1)
    if not pay_per_job:
        assert balance >= -worst, f"balance {balance} went below zero by more than one epoch ({worst})"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rates=st.tuples(st.sampled_from(RATES), st.sampled_from(RATES)),
    welcome=st.integers(0, 3000),
    pay_per_job=st.booleans(),
    ops=st.lists(event, min_size=1, max_size=30),
)
def test_random_event_sequences_keep_the_books_right(prop_db, rates, welcome, pay_per_job, ops) -> None:
    from yoloforge.platform.services import billing_rules

    with prop_db.sessions() as s:
        user = make_user(s, f"p{next(_names)}", welcome_cents=welcome)
        if pay_per_job:
            billing_rules.set_preferences(s, user, pay_per_job=True)
        world = World()
        for i, rate in enumerate(rates):
            model = make_model(s, user, f"m{i}")
            world.jobs.append(Job(job_facts(user, model, rate=rate), model))
        for op in ops:
            _step(s, world, user, op)
            s.commit()
            _check(s, world, user, pay_per_job)
