"""Accounts: who am I (GET /users/me), and for admins: list and create users."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from yoloforge.platform.api.deps import CurrentUser, PageDep, SessionDep, StateDep, needs
from yoloforge.platform.db import User
from yoloforge.platform.schemas.accounts import Me, UserCreate, UserPublic
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.services import accounts
from yoloforge.platform.services.billing_rules import BillingPolicy
from yoloforge.platform.services.principal import SCOPES

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", **needs("read"))
def me(principal: CurrentUser) -> Me:
    """The signed-in account, how it authenticated and the scopes it holds."""
    user = principal.user
    scopes = [s for s in SCOPES if s in principal.scopes]
    return Me(name=user.name, is_admin=user.is_admin, created_at=user.created_at, via=principal.via, scopes=scopes)


@router.get("", **needs("admin"))
def list_users(session: SessionDep, page: PageDep) -> Page[UserPublic]:
    """Every account (admins only)."""
    total = session.scalar(select(func.count()).select_from(User)) or 0
    rows = session.scalars(select(User).order_by(User.name).limit(page.limit).offset(page.offset))
    return Page(items=[UserPublic.model_validate(u) for u in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201, **needs("admin"))
def create_user(body: UserCreate, session: SessionDep, state: StateDep) -> UserPublic:
    """A new account with its welcome credit (admins only); `yoloforge server create-user` does the same."""
    welcome = BillingPolicy.from_settings(state.settings).welcome_cents
    user = accounts.create_user(session, body.name, body.password, is_admin=body.is_admin, welcome_cents=welcome)
    return UserPublic.model_validate(user)
