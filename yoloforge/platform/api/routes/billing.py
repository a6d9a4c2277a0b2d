"""Billing: the caller's balance and ledger, the CSV report, estimates, a model's cost; for admins: top-ups,
refunds and plans. There is no card processor: credit is added by an admin (here or with
`yoloforge server top-up NAME AMOUNT`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from yoloforge.platform.api.deps import CurrentUser, PageDep, SessionDep, StateDep, needs
from yoloforge.platform.api.params import ModelPath, OwnerPath, ProjectPath, UserPath
from yoloforge.platform.db import LedgerEntry, UsageRecord
from yoloforge.platform.schemas.billing import (
    AccountPlanIn,
    AccountPublic,
    BillingPreferences,
    BillingSummary,
    CreditIn,
    EstimateIn,
    EstimateOut,
    LedgerEntryPublic,
    ModelCost,
    ModelSpend,
    UsagePublic,
)
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.services import (
    accounts,
    billing_hooks,
    billing_reports,
    billing_rules,
    datasets,
    estimates,
    ledger,
    models,
)
from yoloforge.platform.services.errors import Invalid, NotFound
from yoloforge.platform.services.principal import Principal

router = APIRouter(prefix="/billing", tags=["billing"])
cost_router = APIRouter(prefix="/projects/{owner}/{project}/models", tags=["billing"])
US = Decimal(1_000_000)


def owner_only(scope: str) -> dict[str, Any]:
    """`needs(scope)`, and marked `x-owner-only`: other accounts get 404 even when the resource is public."""
    options = needs(scope)
    return {**options, "openapi_extra": {**options["openapi_extra"], "x-owner-only": True}}


def _seconds(us: int | None) -> Decimal | None:
    return None if us is None else (Decimal(us) / US).quantize(Decimal("0.001"))


def _rate(micro: int | None) -> Decimal | None:
    return None if micro is None else Decimal(micro) / US


def entry_public(e: LedgerEntry) -> LedgerEntryPublic:
    return LedgerEntryPublic(
        id=e.id, kind=e.kind, amount=ledger.usd(e.amount_cents), balance_after=ledger.usd(e.balance_after_cents),
        created_at=e.created_at, description=e.note, job_id=e.job_id, model=e.model_ref, gpu_type=e.gpu_type,
        epoch=e.epoch, seconds=_seconds(e.duration_us), rate_per_hour=_rate(e.rate_microusd_per_hour),
    )  # fmt: skip


def usage_public(u: UsageRecord) -> UsagePublic:
    return UsagePublic(
        job_id=u.job_id, attempt=u.attempt, kind=u.kind, epoch=u.epoch, started_at=u.started_at, ended_at=u.ended_at,
        seconds=_seconds(u.duration_us), gpu_type=u.gpu_type, rate_per_hour=_rate(u.rate_microusd_per_hour),
        cost=ledger.usd(u.cost_cents),
    )  # fmt: skip


@router.get("", **needs("read"))
def get_billing(principal: CurrentUser, session: SessionDep, state: StateDep) -> BillingSummary:
    """Balance, this month's spend and GPU time, the start minimum and the account's plan."""
    policy = billing_rules.BillingPolicy.from_settings(state.settings)
    s = billing_reports.summary(session, principal.user.id)
    return BillingSummary(
        balance=ledger.usd(s.balance_cents), month_spend=ledger.usd(s.month_spend_cents),
        month_gpu_seconds=_seconds(s.month_gpu_us) or Decimal(0), min_start_balance=ledger.usd(policy.min_start_cents),
        can_start_paid=s.pay_per_job or s.balance_cents >= policy.min_start_cents,
        welcome_credit=ledger.usd(policy.welcome_cents), pay_per_job=s.pay_per_job, auto_resume=s.auto_resume,
        month_by_model=[ModelSpend(model=m, amount=ledger.usd(c), lines=n) for m, c, n in s.month_by_model],
    )  # fmt: skip


@router.patch("", **needs("train"))
def set_preferences(
    body: BillingPreferences, principal: CurrentUser, session: SessionDep, state: StateDep
) -> BillingSummary:
    """Choose whether jobs paused for balance resume by themselves after a top-up."""
    billing_rules.set_preferences(session, principal.user, auto_resume=body.auto_resume)
    return get_billing(principal, session, state)


@router.get("/ledger", **needs("read"))
def get_ledger(principal: CurrentUser, session: SessionDep, page: PageDep) -> Page[LedgerEntryPublic]:
    """The account's ledger, newest first: every grant, top-up, charge (one per epoch), refund and payment."""
    rows, total = billing_reports.ledger_page(session, principal.user.id, limit=page.limit, offset=page.offset)
    return Page(items=[entry_public(e) for e in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/report.csv", response_class=Response, responses={200: {"content": {"text/csv": {}}}}, **needs("read"))
def get_report(
    principal: CurrentUser,
    session: SessionDep,
    start: Annotated[dt.date | None, Query(alias="from", description="First day (UTC), YYYY-MM-DD.")] = None,
    end: Annotated[dt.date | None, Query(alias="to", description="Last day (UTC, included), YYYY-MM-DD.")] = None,
) -> Response:
    """The ledger as CSV, one row per entry (date, kind, job, model, GPU type, epoch, seconds, rate, amount,
    balance); opens as a spreadsheet with dates in ISO 8601 and amounts as plain decimals."""
    entries = billing_reports.entries_between(session, principal.user.id, start, end)
    name = f"yoloforge-billing-{principal.user.name}-{start or 'start'}-{end or 'now'}.csv"
    return Response(
        billing_reports.report_csv(entries),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/estimate", **needs("read"))
def post_estimate(body: EstimateIn, principal: CurrentUser, session: SessionDep, state: StateDep) -> EstimateOut:
    """What training would cost: seconds per epoch, seconds and cost as ranges (derived from FLOPs). `gpu` is a
    type of this server's catalog (its rate) or a name of the cloud-training docs' table."""
    gpu = state.catalog.get(body.gpu)
    if body.rate_per_hour is not None:
        rate = body.rate_per_hour
    else:
        rate = gpu.hourly_usd if gpu is not None else estimates.docs_rate(body.gpu)
    if body.dataset is not None:
        owner, _, rest = body.dataset.partition("/")
        name, _, number = rest.partition(":")
        version = datasets.find_version(
            datasets.find_dataset(session, principal, owner, name), int(number) if number else None
        )
        images = estimates.train_images(version)
    elif body.images is not None:
        images = body.images
    else:
        raise Invalid("give images (training images per epoch) or dataset (owner/name[:version])", field="images")
    peak = estimates.catalog_peak(gpu) if gpu is not None else None
    e = estimates.estimate(body.gpu, rate, body.model, epochs=body.epochs, imgsz=body.imgsz, images=images, peak=peak)
    return EstimateOut.of(e)


@router.post("/top-ups", status_code=201, **needs("admin"))
def top_up(body: CreditIn, principal: CurrentUser, session: SessionDep) -> LedgerEntryPublic:
    """Add credit to an account (admins; there is no card processor)."""
    return _credit(session, principal, body, "top_up")


@router.post("/refunds", status_code=201, **needs("admin"))
def refund(body: CreditIn, principal: CurrentUser, session: SessionDep) -> LedgerEntryPublic:
    """Give money back to an account, e.g. for a job that misbehaved (admins)."""
    return _credit(session, principal, body, "refund")


def _credit(session: Session, principal: Principal, body: CreditIn, kind: str) -> LedgerEntryPublic:
    user = accounts.get_user(session, body.user)
    key = f"{kind}:{user.id}:{body.key}" if body.key else None
    entry = ledger.add_credit(
        session, user, kind, body.amount, note=body.note, actor=principal.user, key=key, job_id=body.job_id
    )
    billing_hooks.after_top_up(session, user.id)
    return entry_public(entry)


@router.get("/accounts/{user}", **needs("admin"))
def get_account(user: UserPath, session: SessionDep) -> AccountPublic:
    """An account's balance and plan (admins)."""
    target = accounts.get_user(session, user)
    s = billing_reports.summary(session, target.id)
    return AccountPublic(user=target.name, balance=ledger.usd(s.balance_cents), pay_per_job=s.pay_per_job,
                         auto_resume=s.auto_resume)  # fmt: skip


@router.patch("/accounts/{user}", **needs("admin"))
def set_plan(user: UserPath, body: AccountPlanIn, session: SessionDep) -> AccountPublic:
    """Set whether an account pays per job (at each job's end) instead of from its balance (admins)."""
    target = accounts.get_user(session, user)
    billing_rules.set_preferences(session, target, pay_per_job=body.pay_per_job)
    return get_account(user, session)


@cost_router.get("/{name}/cost", **owner_only("read"))
def model_cost(
    owner: OwnerPath, project: ProjectPath, name: ModelPath, principal: CurrentUser, session: SessionDep
) -> ModelCost:
    """The model's GPU time and cost line by line (owner and admins only, even for a public model)."""
    model = models.find_model(session, principal, owner, project, name)
    if not principal.can_change(model.project.owner_id):
        raise NotFound(f"model {name!r} not found in project {owner}/{project}")
    rows = billing_reports.model_usage(session, model)
    return ModelCost(
        owner=owner, project=project, model=name, rows=[usage_public(u) for u in rows],
        gpu_seconds=_seconds(sum(u.duration_us for u in rows)) or Decimal(0),
        total_cost=ledger.usd(sum(u.cost_cents for u in rows)),
    )  # fmt: skip
