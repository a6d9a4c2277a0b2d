"""Browser sign-in: POST /auth/login sets a signed HttpOnly SameSite=Lax cookie; POST /auth/logout ends it."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request, Response
from itsdangerous import BadSignature

from yoloforge.platform.api.deps import COOKIE, PUBLIC, SessionDep, StateDep
from yoloforge.platform.schemas.accounts import LoginIn, UserPublic
from yoloforge.platform.services import accounts

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", **PUBLIC)
def login(body: LoginIn, response: Response, session: SessionDep, state: StateDep) -> UserPublic:
    """Check the name and password and start a browser session (the cookie is the credential)."""
    user = accounts.authenticate(session, body.name, body.password)
    token = accounts.start_session(session, user, state.settings.session_days)
    response.set_cookie(
        COOKIE,
        state.cookies.dumps(token),
        max_age=state.settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=state.settings.secure_cookies,
        path="/",
    )
    return UserPublic.model_validate(user)


@router.post("/logout", status_code=204, **PUBLIC)
def logout(request: Request, response: Response, session: SessionDep, state: StateDep) -> None:
    """End this browser's session (the cookie stops working at once, here and in any copy of it)."""
    cookie = request.cookies.get(COOKIE)
    if cookie:
        with contextlib.suppress(BadSignature):  # a forged or stale cookie is simply cleared
            accounts.end_session(session, str(state.cookies.loads(cookie)))
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=state.settings.secure_cookies)
