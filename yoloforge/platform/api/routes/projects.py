"""Projects: POST/GET /projects, GET/PATCH/DELETE /projects/{owner}/{project}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from yoloforge.platform.api.deps import CurrentUser, PageDep, SessionDep, StateDep, needs
from yoloforge.platform.api.params import OwnerPath, ProjectPath
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.schemas.projects import ProjectCreate, ProjectPublic, ProjectUpdate
from yoloforge.platform.services import projects

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", **needs("read"))
def list_projects(
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    owner: Annotated[str | None, Query(max_length=64, description="Only this owner's projects.")] = None,
) -> Page[ProjectPublic]:
    """Your projects and the public ones (yours first)."""
    rows, total = projects.list_projects(session, principal, owner=owner, limit=page.limit, offset=page.offset)
    counts = projects.model_counts(session, [p.id for p in rows])
    items = [ProjectPublic.of(p, counts.get(p.id, 0)) for p in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201, **needs("train"))
def create_project(body: ProjectCreate, principal: CurrentUser, session: SessionDep) -> ProjectPublic:
    """A new project owned by you."""
    return ProjectPublic.of(projects.create_project(session, principal, body), 0)


@router.get("/{owner}/{project}", **needs("read"))
def get_project(owner: OwnerPath, project: ProjectPath, principal: CurrentUser, session: SessionDep) -> ProjectPublic:
    row = projects.find_project(session, principal, owner, project)
    return ProjectPublic.of(row, projects.model_counts(session, [row.id]).get(row.id, 0))


@router.patch("/{owner}/{project}", **needs("train"))
def update_project(
    owner: OwnerPath, project: ProjectPath, body: ProjectUpdate, principal: CurrentUser, session: SessionDep
) -> ProjectPublic:
    """Change the description or visibility (the name is fixed: it is in every URL)."""
    row = projects.update_project(session, principal, owner, project, body)
    return ProjectPublic.of(row, projects.model_counts(session, [row.id]).get(row.id, 0))


@router.delete("/{owner}/{project}", status_code=204, **needs("train"))
def delete_project(
    owner: OwnerPath, project: ProjectPath, principal: CurrentUser, session: SessionDep, state: StateDep
) -> None:
    """Delete the project with its models and their files."""
    projects.delete_project(session, state.storage, principal, owner, project)
