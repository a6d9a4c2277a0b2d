"""Visibility rules shared by every owned resource: a caller sees their own, public ones, or all as admin.

Another user's private resource answers NotFound, exactly as a missing one, so no one learns it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select, true
from sqlalchemy.orm import Session

from yoloforge.platform.services.errors import Forbidden, NotFound
from yoloforge.platform.services.principal import Principal


def visible(principal: Principal, table: Any) -> ColumnElement[bool]:
    """SQL filter of the rows of `table` (with owner_id and visibility) that `principal` may read."""
    if principal.is_admin:
        return true()
    return (table.owner_id == principal.user.id) | (table.visibility == "public")


def list_visible(
    session: Session, principal: Principal, table: Any, *, owner: str | None, limit: int, offset: int
) -> tuple[list[Any], int]:
    """One page of the rows of `table` (projects, datasets) `principal` may read, optionally of one owner: own
    first, then by owner and name; with the count of all such rows."""
    from yoloforge.platform.db import User

    query = select(table).join(User, table.owner_id == User.id).where(visible(principal, table))
    if owner is not None:
        query = query.where(User.name == owner)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    own_first = (table.owner_id != principal.user.id).asc()
    rows = session.scalars(query.order_by(own_first, User.name, table.name).limit(limit).offset(offset))
    return list(rows), total


def check_access(principal: Principal, row: Any, what: str, *, write: bool = False) -> Any:
    """`row` if `principal` may read it (and change it when `write`); NotFound or Forbidden otherwise."""
    if row is None or not principal.can_see(row.owner_id, row.visibility):
        raise NotFound(f"{what} not found")
    if write and not principal.can_change(row.owner_id):
        raise Forbidden(f"{what} is public but not yours: only its owner can change it")
    return row
