"""Datasets, their versions and the validation report of each version."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from yoloforge.platform.schemas.common import Description, PublicModel, Visibility, example


class ClassCount(BaseModel):
    id: int
    name: str
    instances: int = Field(description="Boxes of this class in the kept images.")
    images: int = Field(description="Kept images with at least one box of this class.")


class SplitSummary(BaseModel):
    images: int = Field(description="Images kept (usable for training).")
    backgrounds: int = Field(description="Kept images without boxes.")
    instances: int
    skipped: dict[str, int] = Field(description="Images dropped, by reason (corrupt image, class id >= nc, ...).")
    fixed: dict[str, int] = Field(description="Rows repaired or removed, by kind (duplicate, clipped to image, ...).")
    summary: str = Field(description="The library's one-line summary, as `yoloforge train` logs it.")


class Defect(BaseModel):
    split: str
    file: str | None = Field(description="The file, relative to the archive's top.")
    line: int | None = Field(description="The line of a label file, when the defect is on one line.")
    message: str = Field(description="What is wrong and what was done (row removed, image skipped, ...).")


class DatasetReport(BaseModel):
    """The library's label verification of a version; images shared by splits count once in the totals."""

    images: int
    backgrounds: int
    instances: int
    classes: list[ClassCount]
    splits: dict[str, SplitSummary]
    defects: list[Defect]
    notes: list[str] = Field(description="How the archive was read (e.g. a YAML 'path' that was ignored).")


class DatasetLayout(BaseModel):
    """Where things are in the archive (paths relative to its top, splits relative to `root`)."""

    yaml: str | None
    root: str
    train: list[str]
    val: list[str]
    test: list[str]
    names: list[str]


class VersionSummary(PublicModel):
    number: int
    filename: str
    size: int = Field(description="Archive size in bytes.")
    sha256: str
    images: int
    instances: int
    defects: int
    created_at: dt.datetime


class DatasetVersionPublic(VersionSummary):
    """One version in full: its layout, its report, and a signed link to download it (valid one hour)."""

    owner: str
    name: str
    uri: str = Field(description="The URI that trains on this version: yf://owner/datasets/name:N.")
    layout: DatasetLayout
    report: DatasetReport
    download_url: str


class DatasetPublic(PublicModel):
    owner: str
    name: str
    description: str
    visibility: Visibility
    created_at: dt.datetime
    updated_at: dt.datetime
    uri: str = Field(description="yf://owner/datasets/name: train on the latest version with data=<uri>.")
    latest_version: int
    versions: list[VersionSummary]


class DatasetUpdate(BaseModel):
    """Only the fields given change; versions are immutable (upload again to add one)."""

    model_config = example({"description": "128 COCO images", "visibility": "public"})

    description: Description | None = None
    visibility: Visibility | None = None
