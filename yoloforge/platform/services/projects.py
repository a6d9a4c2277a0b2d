"""Projects: create, list (yours and public), read, change, delete (with their models' files)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from yoloforge.platform.db import Model, Project, User
from yoloforge.platform.schemas.projects import ProjectCreate, ProjectUpdate
from yoloforge.platform.services.access import check_access, list_visible
from yoloforge.platform.services.errors import Conflict
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.services.storage import Storage


def find_project(session: Session, principal: Principal, owner: str, name: str, *, write: bool = False) -> Project:
    """The project `owner/name` as `principal` may see it; NotFound (also when private to someone else)."""
    row = session.scalar(
        select(Project).join(User, Project.owner_id == User.id).where(User.name == owner, Project.name == name)
    )
    return check_access(principal, row, f"project {owner}/{name}", write=write)


def model_counts(session: Session, project_ids: list[int]) -> dict[int, int]:
    """How many models each project holds."""
    if not project_ids:
        return {}
    rows = session.execute(
        select(Model.project_id, func.count()).where(Model.project_id.in_(project_ids)).group_by(Model.project_id)
    )
    return {pid: n for pid, n in rows}


def list_projects(
    session: Session, principal: Principal, *, owner: str | None, limit: int, offset: int
) -> tuple[list[Project], int]:
    """The projects `principal` may see (own first, then by name), optionally of one owner, and their count."""
    return list_visible(session, principal, Project, owner=owner, limit=limit, offset=offset)


def create_project(session: Session, principal: Principal, data: ProjectCreate) -> Project:
    """A new project owned by the caller; Conflict when they already have one of that name."""
    taken = select(Project.id).where(
        Project.owner_id == principal.user.id, func.lower(Project.name) == data.name.lower()
    )
    if session.scalar(taken) is not None:
        raise Conflict(f"you already have a project named {data.name!r}", field="name")
    project = Project(owner_id=principal.user.id, **data.model_dump())
    session.add(project)
    session.commit()
    return project


def update_project(session: Session, principal: Principal, owner: str, name: str, data: ProjectUpdate) -> Project:
    project = find_project(session, principal, owner, name, write=True)
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(project, key, value)
    session.commit()
    return project


def delete_project(session: Session, storage: Storage, principal: Principal, owner: str, name: str) -> None:
    """Delete the project, its models and their stored files."""
    project = find_project(session, principal, owner, name, write=True)
    model_ids = list(session.scalars(select(Model.id).where(Model.project_id == project.id)))
    session.delete(project)
    session.commit()
    for model_id in model_ids:  # after the commit: a failed delete leaves orphan files, never rows without files
        storage.delete_prefix(f"models/{model_id}")
