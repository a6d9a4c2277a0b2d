"""Exports of a model to another format."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from yoloforge.platform.schemas.common import PublicModel, example


class ExportCreate(BaseModel):
    model_config = example({"format": "onnx", "checkpoint": "best"})

    format: Literal["onnx", "torchscript", "openvino"]
    checkpoint: str = Field("best", pattern=r"^(last|best|final|epoch\d{1,6})$", description="Which weights.")


class ExportPublic(PublicModel):
    id: int
    format: str
    checkpoint: str
    status: str = Field(description="queued, running, completed or failed.")
    error: str | None
    filename: str | None
    size: int | None = Field(description="Bytes.")
    sha256: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None
    download_url: str | None = Field(None, description="Path of the download once completed.")
