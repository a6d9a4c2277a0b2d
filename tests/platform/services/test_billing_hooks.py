"""Billing on jobs' and streaming's registries, with jobs' real transitions and streaming's RunEvent: an epoch
that leaves too little balance asks jobs to pause the job; after a top-up with auto-resume the job is queued
again. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

from tests.platform.support.billing import make_model, make_user


def test_epoch_pauses_and_top_up_resumes_through_jobs(db) -> None:
    from yoloforge.platform.db import Job, JobMeter, utcnow
    from yoloforge.platform.services import billing_hooks, billing_rules, jobs, ledger
    from yoloforge.platform.services.run_hooks import RunEvent

    assert billing_hooks.register(billing_rules.BillingPolicy()) == {"jobs", "stream"}
    with db.sessions() as s:
        user = make_user(s, "jo", welcome_cents=500)
        model = make_model(s, user)
        start = utcnow() - dt.timedelta(seconds=600)  # jobs keeps transition times in the past, in order
        job = Job(model_id=model.id, user_id=user.id, gpu_type="cpu-paid", state="queued", hourly_usd="36.00",
                  queued_at=start)  # fmt: skip
        s.add(job)
        s.flush()
        jobs.first_transition(s, job, "submitted")
        for i, state in enumerate(("starting", "downloading", "running"), start=1):
            jobs.transition(s, job, state, at=start + dt.timedelta(seconds=10 * i))
        s.commit()
        epoch_end = start + dt.timedelta(seconds=30 + 450)  # 450 s at 1 cent/s: $4.50 of the $5.00
        billing_hooks.on_epoch(s, model, RunEvent(kind="epoch", run=None, received_at=epoch_end, epoch=1))
        s.commit()
        assert job.want == "pause" and "cannot cover the next epoch" in job.reason
        jobs.transition(s, job, "paused", job.reason, at=epoch_end + dt.timedelta(seconds=3))
        s.commit()
        assert ledger.balance_cents(s, user.id) == 500 - 450  # the 3 s taken to act on the pause are free
        ledger.add_credit(s, user, "top_up", "20")
        assert billing_hooks.after_top_up(s, user.id) == []  # auto-resume not chosen
        billing_rules.set_preferences(s, user, auto_resume=True)
        assert billing_hooks.after_top_up(s, user.id) == [job.id]
        s.refresh(job)
        meter = s.query(JobMeter).filter_by(job_id=job.id).one()
        assert job.state == meter.state == "queued" and meter.billed_us == 450_000_000
