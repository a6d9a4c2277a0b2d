"""Dependencies of every route: the database session, the caller and the scope each route needs.

Two ways to authenticate, one dependency: `Authorization: Bearer yf_...` (an API key) or the signed
session cookie from POST /api/v1/auth/login. Each route declares the scope it needs with
`**needs("read" | "train" | "admin")`, which both enforces it and writes it into the OpenAPI document
as `x-scope` (the isolation test reads it there); `**PUBLIC` marks the few routes without sign-in.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Depends, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from itsdangerous import BadSignature
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from yoloforge.platform.schemas.common import MAX_PAGE
from yoloforge.platform.services import accounts, keys
from yoloforge.platform.services.errors import Forbidden, Unauthorized
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.state import PlatformState

COOKIE = "yoloforge_session"
_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer yf_...`.")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="The session cookie of POST /api/v1/auth/login.")


async def get_state(request: Request) -> PlatformState:
    # async, as are get_session and the scope check: FastAPI runs a sync dependency on a worker thread, and each
    # hop to a thread and back costs the event loop more than these few lines (measured: bench/platform_stream.py)
    return request.app.state.platform


StateDep = Annotated[PlatformState, Depends(get_state)]


async def get_session(state: StateDep) -> AsyncIterator[Session]:
    """A session per request; services commit their own work, anything left is rolled back at the end.

    Making a session touches no database; closing one that holds a connection does (its rollback), so that
    happens on a worker thread: outside the worker threads' limit (all of them may be waiting for the very
    connection this gives back) and shielded from the request's cancellation (a client gone mid-request must not
    leave the connection checked out), as FastAPI does for sync dependencies."""
    session = state.db.sessions()
    try:
        yield session
    finally:
        if session.in_transaction():
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
        else:
            session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def principal_from_request(
    request: Request,
    session: Session,
    state: PlatformState,
    bearer: HTTPAuthorizationCredentials | None,
    cookie: str | None,
) -> Principal | None:
    """The caller from a bearer key or a session cookie; None without either; Unauthorized when invalid."""
    if bearer is not None:
        return keys.authenticate_key(session, bearer.credentials.strip(), state.settings.key_touch_seconds)
    if request.headers.get("authorization"):
        raise Unauthorized("the Authorization header must be 'Bearer <API key>'")
    if cookie:
        try:
            token = state.cookies.loads(cookie)
        except BadSignature as e:
            raise Unauthorized("session cookie is not valid: sign in again") from e
        return accounts.session_principal(session, str(token))
    return None


def get_principal(
    request: Request,
    session: SessionDep,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> Principal:
    principal = principal_from_request(request, session, state, bearer, cookie)
    if principal is None:
        raise Unauthorized(
            "not signed in: send 'Authorization: Bearer <API key>' (create one with `yoloforge server create-key`) "
            "or sign in with POST /api/v1/auth/login"
        )
    release_connection(session)
    return principal


def release_connection(session: Session) -> None:
    """End the read transaction of the authentication so its connection goes back to the pool (loaded objects
    stay usable): a request must not hold a connection while it waits for a worker thread, or 200 requests at
    once (SSE subscribers) hold every connection while the threads that would free them wait for one."""
    session.commit()


def get_optional_principal(
    request: Request,
    session: SessionDep,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    cookie: Annotated[str | None, Security(_cookie)],
) -> Principal | None:
    """Like get_principal, but None without credentials (routes that also accept a signed link)."""
    return principal_from_request(request, session, state, bearer, cookie)


def link_principal(session: Session, state: PlatformState, token: str, kind: str) -> tuple[Principal, int]:
    """(the principal a signed link was made for, with read scope only; the row id it is for)."""
    from yoloforge.platform.db import User
    from yoloforge.platform.services.principal import expand_scopes

    user_id, row_id = state.links.open(token, kind)
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("download link invalid: its account is gone or disabled")
    return Principal(user, expand_scopes(["read"]), via="link"), row_id


LinkToken = Annotated[str | None, Query(max_length=1000, description="A signed link's token (instead of a key).")]


def key_or_link(
    principal: Principal | None, token: str | None, session: Session, state: PlatformState, kind: str
) -> tuple[Principal, int | None]:
    """The caller of a download route: (the signed-in principal, None), else (the link's principal, its row id).

    Raises Unauthorized when there is neither a credential nor a link token, or the link is invalid.
    """
    if principal is not None:
        return principal, None
    if token is None:
        raise Unauthorized("not signed in: send 'Authorization: Bearer <API key>' or use a signed download_url")
    return link_principal(session, state, token, kind)


CurrentUser = Annotated[Principal, Depends(get_principal)]
OptionalUser = Annotated[Principal | None, Depends(get_optional_principal)]


class _Scope:
    def __init__(self, scope: str) -> None:
        self.scope = scope

    async def __call__(self, request: Request, principal: CurrentUser, session: SessionDep) -> None:
        if principal.bound_model_id is not None:  # a cloud job's token writes only to its own model
            from yoloforge.platform.services.job_tokens import check_request

            await run_in_threadpool(check_request, session, principal, request)
        if self.scope == "admin" and not principal.is_admin:
            raise Forbidden("this needs an admin account and a credential with the 'admin' scope")
        if not principal.has(self.scope):
            raise Forbidden(
                f"this needs the '{self.scope}' scope; the API key has {', '.join(sorted(principal.scopes))}: "
                f"create one with `yoloforge server create-key NAME --scope {self.scope}`"
            )


def needs(scope: str) -> dict[str, Any]:
    """Route options requiring `scope` of the caller (and documenting it as `x-scope`)."""
    return {"dependencies": [Depends(_Scope(scope))], "openapi_extra": {"x-scope": scope}}


PUBLIC: dict[str, Any] = {"openapi_extra": {"x-scope": "public"}}
LINK_OR_READ: dict[str, Any] = {"openapi_extra": {"x-scope": "read", "x-signed-link": True}}


def single_valued_query(request: Request) -> None:
    """Refuse a repeated query parameter (`?owner=a&owner=b`): every parameter of this API takes one value."""
    seen: set[str] = set()
    for key, _ in request.query_params.multi_items():
        if key in seen:
            msg = f"query parameter '{key}' is repeated: give it once"
            raise RequestValidationError([{"loc": ("query", key), "msg": msg, "type": "repeated"}])
        seen.add(key)


class PageParams:
    """`?limit=&offset=` of list routes."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE, description="Items per page.")] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9, description="Items to skip.")] = 0,
    ) -> None:
        self.limit, self.offset = limit, offset


PageDep = Annotated[PageParams, Depends()]
