"""Cloud training: the submission form, the job view with its state history, quotas, the GPU catalog."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from yoloforge.platform.schemas.billing import EstimateOut
from yoloforge.platform.schemas.common import Name, PublicModel, example

DATASET_REF = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(:[1-9][0-9]{0,6})?$"


EXAMPLE = {"name": "exp1", "dataset": "alice/open-data", "model": "yolo11n.yaml", "epochs": 1, "imgsz": 64,
           "batch": 4, "gpu": "cpu", "args": {"workers": 0}}  # fmt: skip


class JobCreate(BaseModel):
    """A new model trained by the platform. Every setting is checked by the library's settings schema."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    name: Name
    dataset: str = Field(pattern=DATASET_REF, description="OWNER/NAME or OWNER/NAME:VERSION (default: newest).")
    model: str = Field(
        "yolo11n",
        max_length=300,
        description="yolo11n|s|m|l|x or yolov8n..x (pretrained weights), NAME.yaml (from scratch), or an earlier "
        "model's weights: OWNER/PROJECT/MODEL (its best checkpoint) or OWNER/PROJECT/MODEL:KIND.",
    )
    epochs: int = Field(100, ge=1, le=100_000)
    imgsz: int = Field(640, ge=32, le=8192)
    batch: int | float = Field(-1, description="Batch size; -1: AutoBatch.")
    gpu: str = Field("cpu", max_length=32, description="A GPU type of GET /api/v1/gpus.")
    args: dict[str, Any] = Field(default_factory=dict, description="Any other training setting of the library.")


class TransitionPublic(PublicModel):
    from_state: str | None
    to_state: str
    at: dt.datetime
    reason: str


class JobPublic(PublicModel):
    """A model's job: state, queue position, attempts and its state history."""

    state: str
    gpu_type: str
    pool: str | None
    executor: str | None
    attempt: int
    restarts: int
    max_restarts: int
    want: str | None = Field(description="A stop, cancel or pause asked for and not yet done.")
    reason: str | None
    queue_position: int | None = Field(None, description="1: next to start on its GPU type.")
    hourly_usd: str
    created_at: dt.datetime
    queued_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    transitions: list[TransitionPublic]


class SubmittedModel(BaseModel):
    """What POST .../models answers: where the model is, and its job."""

    owner: str
    project: str
    name: str
    url: str = Field(description="The model's API path.")
    job: JobPublic


class SubmissionPreview(BaseModel):
    """What POST .../models?dry_run=true answers: the submission checked as a real one would be, nothing created;
    whether the account may start it now, the jobs waiting for its GPU type, and the cost estimate (a range)."""

    dry_run: bool = True
    owner: str
    project: str
    name: str
    dataset: str = Field(description="OWNER/NAME:VERSION: the version the job would train on.")
    gpu: str
    hourly_usd: Decimal
    settings: dict[str, Any] = Field(description="The run's settings as the worker would get them.")
    can_start: bool = Field(description="False when the account may not start on this GPU type (see reason).")
    reason: str | None = Field(None, description="Why it may not start now, and what to do.")
    waiting: int = Field(description="Jobs waiting for this GPU type now.")
    estimate: EstimateOut | None = Field(None, description="None when the model or GPU type has no figure.")
    estimate_note: str | None = Field(None, description="Why there is no estimate.")

    @classmethod
    def of(cls, owner: str, project: str, name: str, p: Any) -> SubmissionPreview:
        """From services.job_preview.Preview."""
        c = p.checked
        return cls(
            owner=owner, project=project, name=name, dataset=c.dataset, gpu=c.gpu.name, hourly_usd=c.gpu.hourly_usd,
            settings=c.settings, can_start=p.can_start, reason=p.reason, waiting=p.waiting,
            estimate=EstimateOut.of(p.estimate) if p.estimate is not None else None, estimate_note=p.estimate_note,
        )  # fmt: skip


class QuotaUpdate(BaseModel):
    model_config = example({"max_running": 2})

    max_running: int = Field(ge=0, le=10_000, description="Cloud jobs the account may run at once.")


class QuotaPublic(BaseModel):
    user: str
    max_running: int
    running: int


class GpuTypePublic(BaseModel):
    name: str
    label: str
    vram_gb: float
    speed: str
    hourly_usd: str = Field(description="USD per hour, exact decimal.")
    available: bool = Field(description="False when no executor pool serves it on this installation.")
    executor: str | None
    capacity: int = Field(description="Jobs its pool runs at once (0 when unavailable).")
    free: int = Field(description="Slots free now.")
