"""Visibility rules shared by every owned resource: a caller sees their own, public ones, or all as admin.

Another user's private resource answers NotFound, exactly as a missing one, so no one learns it exists.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, true

from yoloforge.platform.services.errors import Forbidden, NotFound
from yoloforge.platform.services.principal import Principal


def visible(principal: Principal, table: Any) -> ColumnElement[bool]:
    """SQL filter of the rows of `table` (with owner_id and visibility) that `principal` may read."""
    if principal.is_admin:
        return true()
    return (table.owner_id == principal.user.id) | (table.visibility == "public")


def check_access(principal: Principal, row: Any, what: str, *, write: bool = False) -> Any:
    """`row` if `principal` may read it (and change it when `write`); NotFound or Forbidden otherwise."""
    if row is None or not principal.can_see(row.owner_id, row.visibility):
        raise NotFound(f"{what} not found")
    if write and not principal.can_change(row.owner_id):
        raise Forbidden(f"{what} is public but not yours: only its owner can change it")
    return row
