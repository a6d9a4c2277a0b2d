"""Metering: GPU time measured by the server from a job's transitions and its epoch events, turned into usage
records and ledger charges.

Rules (from the cloud-training docs: "cost = GPU rate x training time", "credits are charged only for
completed compute time", "when credits run out, training pauses at the end of the current epoch"):
- Billed time is running time only: queued, starting and downloading are free.
- `running` opens the meter; each epoch end (the server's receive time) charges the time since the last
  boundary as that epoch's row; the first epoch of a running period is preceded by a `setup` row when the
  run-start event marked where the epoch began.
- `stopped` saves a checkpoint: the epoch in progress is charged as a `partial` row. `paused` (billing's decision at
  an epoch end) charges nothing after that epoch end: the worker's time to act on the pause is free.
  `failed`, `cancelled`, `retrying` and `lost` save nothing: the time since the last epoch end is free,
  so a job that fails before its first epoch costs $0. `completed` charges the tail after the last epoch
  (final validation and saving) as a `final` row.
- The rate is the GPU type's hourly rate when the job was submitted (kept on the meter at its first event).
- Rounding: the job's cost to date is round_half_even(rate x billed seconds / 3600) to the cent, and each
  row is charged cost_to_date - already_charged, so the rows add up to the job's total exactly and the
  total is within half a cent of rate x billed seconds.
- After each epoch, a balance that cannot cover one more epoch like the last asks jobs to pause the job
  (`MeterOutcome.pause_reason`); free GPU types and pay-per-job accounts never pause. A pay-per-job
  account gets no per-epoch charges: one `payment` row when the job ends.

The functions take the caller's session and do not commit: jobs and streaming call them inside the
transaction that records the transition or event, which commits both together.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Context, Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from yoloforge.platform.db import JobMeter, LedgerEntry, Model, UsageRecord, utcnow
from yoloforge.platform.services import ledger

FREE_STATES = ("queued", "starting", "downloading")
SETTLE_STATES = ("completed", "failed", "cancelled", "stopped")  # a pay-per-job account pays what ran so far
US_PER_CENT_HOUR = Decimal(36_000_000_000_000)  # micro-USD/h x microseconds -> cents: 1e6 * 3.6e9 / 100
_EXACT = Context(prec=60)


@dataclass(frozen=True)
class JobFacts:
    """What billing needs to know of a job (built from jobs' Job row by `facts_of`)."""

    job_id: int
    account_id: int
    model_id: int | None
    gpu_type: str
    rate_per_hour: Decimal
    attempt: int = 1
    model_ref: str = ""


@dataclass
class MeterOutcome:
    """What an event caused: usage rows and ledger rows written; `pause_reason` when jobs must pause the job."""

    usage: list[UsageRecord] = field(default_factory=list)
    entries: list[LedgerEntry] = field(default_factory=list)
    pause_reason: str | None = None
    job_id: int | None = None


def rate_micro(rate_per_hour: Decimal | str | int) -> int:
    """USD per hour as integer micro-USD per hour (exact); ValueError when negative or finer than 1e-6 USD."""
    value = Decimal(str(rate_per_hour))
    micro = value * 1_000_000
    if not value.is_finite() or value < 0 or micro != micro.to_integral_value():
        raise ValueError(f"hourly rate {rate_per_hour!r} must be a non-negative USD amount with <= 6 decimals")
    return int(micro)


def cost_cents(rate_microusd_per_hour: int, duration_us: int) -> int:
    """round_half_even(rate x seconds / 3600) in cents, computed in Decimal without loss (60 digits)."""
    exact = _EXACT.divide(Decimal(rate_microusd_per_hour) * Decimal(duration_us), US_PER_CENT_HOUR)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_EVEN, context=_EXACT))


def micros(delta: dt.timedelta) -> int:
    """A time span in whole microseconds, never negative (an event that arrives out of order bills 0)."""
    return max(0, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def facts_of(job: Any) -> JobFacts:
    """JobFacts from a JobFacts or from a jobs Job row (attributes id, user/account id, model_id, gpu type, rate)."""
    if isinstance(job, JobFacts):
        return job

    def first(*names: str) -> Any:
        for name in names:
            if getattr(job, name, None) is not None:
                return getattr(job, name)
        raise AttributeError(f"job {job!r} has none of {names}")

    return JobFacts(
        job_id=int(first("job_id", "id")),
        account_id=int(first("account_id", "user_id", "owner_id")),
        model_id=getattr(job, "model_id", None),
        gpu_type=str(first("gpu_type_name", "gpu_type", "gpu")),
        rate_per_hour=Decimal(str(first("rate_per_hour", "hourly_usd", "hourly_rate", "rate"))),
        attempt=int(getattr(job, "attempt", 1) or 1),
        model_ref=str(getattr(job, "model_ref", "") or ""),
    )


def _locked_meter(session: Session, facts: JobFacts) -> JobMeter:
    """Lock the paying account, then the job's meter read fresh (created with the rate now = at submission)."""
    account = ledger.lock_account(session, facts.account_id)
    meter = session.scalar(
        select(JobMeter).where(JobMeter.job_id == facts.job_id).execution_options(populate_existing=True)
    )
    if meter is None:
        meter = JobMeter(
            job_id=facts.job_id, account_id=facts.account_id, model_id=facts.model_id,
            model_ref=facts.model_ref or _model_ref(session, facts.model_id),
            gpu_type=facts.gpu_type, rate_microusd_per_hour=rate_micro(facts.rate_per_hour),
            pay_per_job=account.pay_per_job, attempt=facts.attempt, segment=0, state="queued", billed_us=0,
            charged_cents=0, paid_cents=0, paid_us=0,
        )  # fmt: skip
        session.add(meter)
        session.flush()
    return meter


def _model_ref(session: Session, model_id: int | None) -> str:
    """'owner/project/model' of a model (kept on billing rows: they outlive a deleted model)."""
    model = session.get(Model, model_id) if model_id is not None else None
    return "" if model is None else f"{model.project.owner.name}/{model.project.name}/{model.name}"


def _charge(
    session: Session, meter: JobMeter, kind: str, epoch: int | None, start: dt.datetime, end: dt.datetime,
    out: MeterOutcome,
) -> UsageRecord | None:  # fmt: skip
    """One usage row for [start, end] and, for a paid type on a balance account, its ledger charge."""
    key = f"job:{meter.job_id}:epoch:{epoch}" if kind == "epoch" else f"job:{meter.job_id}:seg:{meter.segment}:{kind}"
    if session.scalar(select(UsageRecord.id).where(UsageRecord.key == key)) is not None:
        return None  # replayed: charged already
    duration = micros(end - start)
    meter.billed_us += duration
    total = cost_cents(meter.rate_microusd_per_hour, meter.billed_us)
    cost, meter.charged_cents = total - meter.charged_cents, total
    usage = UsageRecord(
        key=key, job_id=meter.job_id, attempt=meter.attempt, account_id=meter.account_id, model_id=meter.model_id,
        model_ref=meter.model_ref, gpu_type=meter.gpu_type, kind=kind, epoch=epoch, started_at=start, ended_at=end,
        duration_us=duration, rate_microusd_per_hour=meter.rate_microusd_per_hour, cost_cents=cost,
    )  # fmt: skip
    session.add(usage)
    session.flush()
    out.usage.append(usage)
    if meter.rate_microusd_per_hour > 0 and not meter.pay_per_job:
        out.entries.append(ledger.append(
            session, meter.account_id, "charge", -cost, f"charge:{key}", note=_describe(kind, epoch),
            **_job_fields(meter, usage),
        ))  # fmt: skip
    return usage


def _job_fields(meter: JobMeter, usage: UsageRecord | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "job_id": meter.job_id,
        "model_id": meter.model_id,
        "model_ref": meter.model_ref,
        "gpu_type": meter.gpu_type,
        "rate_microusd_per_hour": meter.rate_microusd_per_hour,
    }
    if usage is not None:
        fields.update(epoch=usage.epoch, duration_us=usage.duration_us, usage_id=usage.id)
    return fields


def _describe(kind: str, epoch: int | None) -> str:
    return {
        "setup": "GPU time before the first epoch",
        "epoch": f"epoch {epoch}",
        "partial": f"epoch {epoch} (partial, saved by a stop or pause)" if epoch is not None else "partial epoch",
        "final": "after the last epoch (final validation and saving)",
    }[kind]


def _settle(session: Session, meter: JobMeter, out: MeterOutcome) -> None:
    """A pay-per-job account pays what the job cost so far and has not paid, in one `payment` row."""
    due = meter.charged_cents - meter.paid_cents
    if not meter.pay_per_job or due <= 0:
        return
    out.entries.append(ledger.append(
        session, meter.account_id, "payment", -due, f"payment:{meter.job_id}:to:{meter.charged_cents}",
        note=f"job {meter.job_id} paid at its end ({meter.state})", duration_us=meter.billed_us - meter.paid_us,
        **_job_fields(meter, None),
    ))  # fmt: skip
    meter.paid_cents, meter.paid_us = meter.charged_cents, meter.billed_us


def on_transition(session: Session, job: Any, from_state: str | None, to_state: str, at: dt.datetime) -> MeterOutcome:
    """Meter a job's move to `to_state` at `at` (the transition row's time). Flushes; the caller commits.

    `job` is a JobFacts or a jobs Job row. A repeated transition (same state again) changes nothing.
    """
    facts = facts_of(job)
    meter = _locked_meter(session, facts)
    out = MeterOutcome(job_id=meter.job_id)
    if meter.state == to_state:
        return out
    running = meter.open_since is not None
    if to_state == "running":
        if not running:
            meter.segment += 1
            meter.attempt = facts.attempt
            meter.open_since, meter.run_started_at, meter.pause_reason = at, None, None
    elif running:
        assert meter.open_since is not None
        if to_state == "stopped":  # a stop the user asked for saved the epoch in progress: completed compute
            nxt = None if meter.last_epoch is None else meter.last_epoch + 1
            _charge_open(session, meter, "partial", nxt, at, out)
        # `paused` is billing's own decision, taken at an epoch end: the job pauses "at the end of the current
        # epoch", so the seconds the worker needs to act on it are not charged (and cannot overdraw the account)
        elif to_state == "completed":
            _charge(session, meter, "final", meter.last_epoch, meter.open_since, at, out)
        meter.open_since = meter.run_started_at = None
    meter.state = to_state
    if to_state in SETTLE_STATES:
        _settle(session, meter, out)
    meter.updated_at = utcnow()
    session.flush()
    return out


def _charge_open(session: Session, meter: JobMeter, kind: str, epoch: int | None, end: dt.datetime,
                 out: MeterOutcome) -> None:  # fmt: skip
    """Charge the open interval up to `end`, split into `setup` + `kind` when the run-start mark lies inside."""
    start = meter.open_since
    assert start is not None
    mark = meter.run_started_at
    if mark is not None and start < mark < end:
        _charge(session, meter, "setup", None, start, mark, out)
        start = mark
    _charge(session, meter, kind, epoch, start, end, out)


def _running_meter(session: Session, target: Any) -> JobMeter | None:
    """The running meter of a JobFacts/Job (by job id) or of a Model (by model id); None when not metered."""
    if isinstance(target, Model):
        if target.source != "cloud":  # only platform jobs are metered: no query for a remote run's events
            return None
        where = (JobMeter.model_id == target.id) & JobMeter.open_since.is_not(None)
    else:
        where = JobMeter.job_id == facts_of(target).job_id
    return session.scalar(select(JobMeter).where(where).order_by(JobMeter.id.desc()).limit(1))


def on_run_start(session: Session, target: Any, at: dt.datetime) -> None:
    """Mark where the first epoch of the running period began (the run-start event), for the `setup` row."""
    found = _running_meter(session, target)
    if found is None:
        return
    ledger.lock_account(session, found.account_id)
    session.refresh(found)
    if found.open_since is not None and found.run_started_at is None and at > found.open_since:
        found.run_started_at = at
        session.flush()


def on_epoch_end(session: Session, target: Any, epoch: int, at: dt.datetime) -> MeterOutcome:
    """Charge epoch `epoch` of the running job of `target` (a Model, JobFacts or Job) ending at `at`.

    Models without a running meter (remote training, a stopped job) cost nothing; an epoch already
    charged (a replayed event) changes nothing. Flushes; the caller commits.
    """
    found = _running_meter(session, target)
    if found is None:
        return MeterOutcome()
    ledger.lock_account(session, found.account_id)
    session.refresh(found)
    meter, out = found, MeterOutcome(job_id=found.job_id)
    if meter.open_since is None or (meter.last_epoch is not None and epoch <= meter.last_epoch):
        return out
    _charge_open(session, meter, "epoch", epoch, at, out)
    meter.last_epoch, meter.open_since, meter.run_started_at = epoch, at, None
    meter.last_epoch_us = out.usage[-1].duration_us if out.usage else meter.last_epoch_us
    out.pause_reason = meter.pause_reason = _pause_reason(session, meter)
    meter.updated_at = utcnow()
    session.flush()
    return out


def next_epoch_cents(meter: JobMeter) -> int:
    """The estimated cost of one more epoch: the last epoch's time at the job's rate (0 before any epoch)."""
    return cost_cents(meter.rate_microusd_per_hour, meter.last_epoch_us or 0)


def _pause_reason(session: Session, meter: JobMeter) -> str | None:
    """Why the job must pause now (its balance cannot cover the next epoch), or None."""
    if meter.rate_microusd_per_hour == 0 or meter.pay_per_job:
        return None
    balance, need = ledger.balance_cents(session, meter.account_id), next_epoch_cents(meter)
    if balance >= need and balance >= 0:
        return None
    return (f"balance {ledger.format_usd(balance)} cannot cover the next epoch (about {ledger.format_usd(need)} "
            f"on {meter.gpu_type}): add credit to resume")  # fmt: skip
