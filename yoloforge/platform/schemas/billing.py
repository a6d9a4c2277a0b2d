"""Billing: the account summary, ledger entries, credits (top-ups, refunds), plans, estimates, model costs.

Amounts are USD decimals serialised as strings ("12.34"): never floats.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from yoloforge.platform.schemas.common import Name, PublicModel, example

Usd = Annotated[Decimal, Field(description="USD, two decimal places, as a string.")]


class ModelSpend(BaseModel):
    model: str = Field(description="owner/project/model at the time of the charges.")
    amount: Usd = Field(description="Charged this month (positive).")
    lines: int = Field(description="Ledger lines behind the amount.")


class BillingSummary(BaseModel):
    """The caller's balance, this month's spend and GPU time, and the rules that apply to the account."""

    currency: Literal["USD"] = "USD"
    balance: Usd
    month_spend: Usd = Field(description="Charges and payments since the 1st of this month (UTC).")
    month_gpu_seconds: Decimal = Field(description="Billed GPU seconds since the 1st of this month (UTC).")
    min_start_balance: Usd = Field(description="Needed to start or resume a job on a paid GPU type.")
    can_start_paid: bool = Field(description="Whether the balance (or pay-per-job) allows a paid job to start.")
    welcome_credit: Usd
    pay_per_job: bool = Field(description="Jobs are paid in one `payment` at their end instead of per epoch.")
    auto_resume: bool = Field(description="Jobs paused for balance resume by themselves after a top-up.")
    month_by_model: list[ModelSpend] = Field(default_factory=list, description="This month's spend per model.")


class BillingPreferences(BaseModel):
    model_config = example({"auto_resume": True})

    auto_resume: bool | None = Field(None, description="Resume jobs paused for balance after a top-up.")


class LedgerEntryPublic(PublicModel):
    """One money movement: `amount` > 0 credits, < 0 charges; `balance_after` is the running balance."""

    id: int
    kind: Literal["grant", "top_up", "charge", "refund", "payment"]
    amount: Usd
    balance_after: Usd
    created_at: dt.datetime
    description: str
    job_id: int | None
    model: str = Field(description="owner/project/model at the time of the charge ('' for credits).")
    gpu_type: str | None
    epoch: int | None
    seconds: Decimal | None = Field(description="GPU seconds billed by this entry.")
    rate_per_hour: Decimal | None = Field(description="USD per GPU hour (the rate when the job was submitted).")


class CreditIn(BaseModel):
    model_config = example({"user": "alice", "amount": "10.00", "note": "invoice 2026-11"})

    user: Name
    amount: Decimal = Field(gt=0, le=100_000, decimal_places=2, description="USD to add.")
    note: str = Field("", max_length=2000, description="Why (shown in the ledger and the report).")
    key: str | None = Field(
        None, min_length=1, max_length=100, description="Idempotency key: repeating a request with it adds nothing."
    )
    job_id: int | None = Field(None, ge=1, description="The job a refund is for.")


class AccountPlanIn(BaseModel):
    model_config = example({"pay_per_job": True})

    pay_per_job: bool = Field(description="Pay each job at its end instead of from the balance per epoch.")


class AccountPublic(BaseModel):
    """An account's billing state, for admins."""

    user: str
    balance: Usd
    pay_per_job: bool
    auto_resume: bool


class EstimateIn(BaseModel):
    """Give `images` (training images per epoch) or `dataset` (owner/name[:version], its train split)."""

    model_config = example({"gpu": "RTX 4090", "model": "yolo11n", "epochs": 100, "imgsz": 640, "images": 5000})

    gpu: str = Field(min_length=1, max_length=64, description="GPU type name from GET /api/v1/gpus.")
    rate_per_hour: Decimal | None = Field(
        None, ge=0, le=1000, decimal_places=6, description="USD/h; default: the GPU type's catalog rate."
    )
    model: str = Field("yolo11n", min_length=1, max_length=64, description="yolo11n..x or yolov8n..x.")
    epochs: int = Field(100, ge=1, le=100_000)
    imgsz: int = Field(640, ge=32, le=8192)
    images: int | None = Field(None, ge=1, le=100_000_000, description="Training images per epoch.")
    dataset: str | None = Field(
        None, max_length=140, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(:\d{1,9})?$",
        description="owner/name[:version] instead of images: its train split is counted.",
    )  # fmt: skip


class Range(BaseModel):
    low: Decimal
    high: Decimal


class EstimateOut(BaseModel):
    """Ranges: the low end assumes the high utilisation, the high end the low one. Costs in USD."""

    gpu: str
    model: str
    epochs: int
    images: int
    imgsz: int
    rate_per_hour: Decimal
    seconds_per_epoch: Range
    seconds: Range
    cost: Range
    basis: str = Field(description="How the figures were derived.")

    @classmethod
    def of(cls, e: Any) -> EstimateOut:
        """From services.estimates.Estimate (seconds are estimates: one decimal place)."""

        def seconds(pair: tuple[float, float]) -> Range:
            low, high = (Decimal(repr(s)).quantize(Decimal("0.1")) for s in pair)
            return Range(low=low, high=high)

        return cls(
            gpu=e.gpu_type, model=e.model, epochs=e.epochs, images=e.images, imgsz=e.imgsz,
            rate_per_hour=e.rate_per_hour, seconds_per_epoch=seconds(e.seconds_per_epoch), seconds=seconds(e.seconds),
            cost=Range(low=e.cost[0], high=e.cost[1]), basis=e.basis,
        )  # fmt: skip


class UsagePublic(PublicModel):
    """One billed interval: setup, epoch, partial (saved by a stop or pause) or final."""

    job_id: int
    attempt: int
    kind: Literal["setup", "epoch", "partial", "final"]
    epoch: int | None
    started_at: dt.datetime
    ended_at: dt.datetime
    seconds: Decimal
    gpu_type: str
    rate_per_hour: Decimal
    cost: Usd


class ModelCost(BaseModel):
    """A model's cost line by line: the rows add up to `total_cost` exactly."""

    owner: str
    project: str
    model: str
    rows: list[UsagePublic]
    gpu_seconds: Decimal
    total_cost: Usd
