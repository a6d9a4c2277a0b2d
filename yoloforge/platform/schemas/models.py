"""Models (training runs): summaries for lists, the full view, metric rows and checkpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from yoloforge.platform.schemas.common import PublicModel

Source = Literal["cloud", "remote"]


class CheckpointPublic(PublicModel):
    kind: str = Field(description="last, best, final or epochN.")
    epoch: int | None
    size: int = Field(description="Bytes.")
    sha256: str
    created_at: dt.datetime
    download_url: str = Field(description="Path of the download, relative to the server.")


class MetricRowPublic(PublicModel):
    epoch: int
    metrics: dict[str, Any] = Field(description="The epoch's results.csv columns by name.")


class ModelSummary(PublicModel):
    name: str
    source: Source
    status: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    epochs_done: int = Field(description="Epochs with metrics so far.")
    epochs: int | None = Field(None, description="Epochs planned (the settings' `epochs`), when known.")
    best_metrics: dict[str, Any] | None


class ModelPublic(ModelSummary):
    """A model in full: its settings, the metrics so far and its checkpoints."""

    owner: str
    project: str
    settings: dict[str, Any]
    final_metrics: dict[str, Any] | None
    metrics: list[MetricRowPublic]
    checkpoints: list[CheckpointPublic]
