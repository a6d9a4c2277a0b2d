"""Cloud training: the submission form, the job view with its state history, quotas, the GPU catalog."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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
