"""Billing test helpers: a migrated database, users with their welcome credit, models, job facts, clocks."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.orm import Session

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
_job_ids = itertools.count(1)


def at(seconds: float) -> dt.datetime:
    """T0 + seconds (a fixed clock: metering uses the times it is given)."""
    return T0 + dt.timedelta(seconds=seconds)


def make_user(session: Session, name: str, *, welcome_cents: int = 500):
    """A user (argon2 is skipped: the hash is a placeholder) with its billing account and welcome grant."""
    from yoloforge.platform.db import User
    from yoloforge.platform.services import ledger

    user = User(name=name, password_hash="x")
    session.add(user)
    session.commit()
    ledger.open_account(session, user.id, welcome_cents)
    return user


def make_model(session: Session, user, name: str = "m1"):
    """A cloud model in a private project of `user` (project named after the model)."""
    from yoloforge.platform.db import Model, Project

    project = Project(owner_id=user.id, name=f"p-{name}", description="", visibility="private")
    session.add(project)
    session.flush()
    model = Model(project_id=project.id, name=name, source="cloud", status="pending", settings={})
    session.add(model)
    session.commit()
    return model


def job_facts(user, model, rate: str = "3.60", *, attempt: int = 1, job_id: int | None = None):
    """JobFacts of a new job of `model` (a fresh job id) on a GPU type at `rate` USD/h ($3.60/h = 0.1 cent/s)."""
    from yoloforge.platform.services.metering import JobFacts

    return JobFacts(
        job_id=job_id or next(_job_ids),
        account_id=user.id,
        model_id=model.id if model is not None else None,
        gpu_type="test-gpu",
        rate_per_hour=Decimal(rate),
        attempt=attempt,
    )
