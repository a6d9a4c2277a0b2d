"""Users and browser sessions: argon2id password hashes (argon2-cffi), session tokens stored as SHA-256."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
import secrets

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from yoloforge.platform.db import BrowserSession, User, utcnow
from yoloforge.platform.services.errors import Conflict, Invalid, NotFound, Unauthorized
from yoloforge.platform.services.principal import Principal, session_scopes

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NAME_RULE = "1-64 letters, digits, '_', '.', '-', starting with a letter or digit"
MIN_PASSWORD = 8


@functools.cache
def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with the library's RFC 9106 low-memory defaults


def hash_password(password: str) -> str:
    """An argon2id hash (salt and parameters inside the string)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; never raises for a wrong password or a malformed hash."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def check_name(name: str, field: str = "name") -> str:
    if not NAME_RE.match(name):
        raise Invalid(f"{field} {name!r} is not valid: use {NAME_RULE}", field=field)
    return name


def create_user(
    session: Session, name: str, password: str, *, is_admin: bool = False, welcome_cents: int | None = None
) -> User:
    """A new account with its welcome credit (`welcome_cents`, default $5; billing_rules); Conflict when the name
    is taken (names compare case-insensitively)."""
    check_name(name)
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password is too short: use at least {MIN_PASSWORD} characters", field="password")
    if session.scalar(select(User.id).where(func.lower(User.name) == name.lower())) is not None:
        raise Conflict(f"user {name!r} already exists", field="name")
    user = User(name=name, password_hash=hash_password(password), is_admin=is_admin)
    session.add(user)
    session.commit()
    from yoloforge.platform.services import billing_rules, ledger

    welcome = billing_rules.DEFAULT_WELCOME_CENTS if welcome_cents is None else welcome_cents
    ledger.open_account(session, user.id, welcome)
    return user


def get_user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"user {name!r} not found")
    return user


def authenticate(session: Session, name: str, password: str) -> User:
    """The user whose name and password match; Unauthorized otherwise (the same answer and time either way)."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        verify_password(_dummy_hash(), password)  # spend the same time: no user enumeration by timing
    elif user.is_active and verify_password(user.password_hash, password):
        return user
    raise Unauthorized("wrong user name or password")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, days: int) -> str:
    """A new browser session for `user`; returns its token (the cookie holds it, signed)."""
    token = secrets.token_urlsafe(32)
    expires = utcnow() + dt.timedelta(days=days)
    session.add(BrowserSession(user_id=user.id, token_hash=_token_hash(token), expires_at=expires))
    session.commit()
    return token


def session_principal(session: Session, token: str) -> Principal:
    """The principal of a browser session token; Unauthorized when unknown, ended or expired."""
    row = session.scalar(select(BrowserSession).where(BrowserSession.token_hash == _token_hash(token)))
    if row is None or row.expires_at <= utcnow() or not row.user.is_active:
        raise Unauthorized("session expired or signed out: sign in again")
    return Principal(row.user, session_scopes(row.user), via="session")


def end_session(session: Session, token: str) -> None:
    """Sign out: the session row goes, so the cookie stops working at once (and expired rows are swept)."""
    session.execute(
        delete(BrowserSession).where(
            (BrowserSession.token_hash == _token_hash(token)) | (BrowserSession.expires_at <= utcnow())
        )
    )
    session.commit()
