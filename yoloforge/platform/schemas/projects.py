"""Projects: `owner/name`."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from yoloforge.platform.db import Project
from yoloforge.platform.schemas.common import Description, Name, PublicModel, Visibility, example


class ProjectCreate(BaseModel):
    model_config = example({"name": "detector", "description": "Forklifts and pallets", "visibility": "private"})

    name: Name
    description: Description = ""
    visibility: Visibility = "private"


class ProjectUpdate(BaseModel):
    """Only the fields given change; the name is fixed (it is in every URL)."""

    model_config = example({"description": "Forklifts, pallets and people", "visibility": "public"})

    description: Description | None = None
    visibility: Visibility | None = None


class ProjectPublic(PublicModel):
    owner: str
    name: str
    description: str
    visibility: Visibility
    created_at: dt.datetime
    updated_at: dt.datetime
    models: int = Field(description="How many models the project holds.")

    @classmethod
    def of(cls, project: Project, models: int) -> ProjectPublic:
        return cls(
            owner=project.owner.name,
            name=project.name,
            description=project.description,
            visibility=project.visibility,  # type: ignore[arg-type]
            created_at=project.created_at,
            updated_at=project.updated_at,
            models=models,
        )
