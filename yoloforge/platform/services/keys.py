"""API keys: `yf_` + 32 random bytes (URL-safe base64), stored as SHA-256 only, with scopes and a prefix.

A fast hash is the right one here: the key has 256 bits of entropy, so no dictionary or brute force
applies, and each request is checked with one indexed lookup (the pattern of GitHub's and Stripe's
tokens). Revocation sets `revoked_at`; the next request with the key is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload

from yoloforge.platform.db import ApiKey, User, utcnow
from yoloforge.platform.services.errors import Forbidden, Invalid, NotFound, Unauthorized
from yoloforge.platform.services.principal import SCOPES, Principal, expand_scopes

KEY_PREFIX = "yf_"
SHOWN_PREFIX = 10  # characters of a key kept in clear to recognise it in lists: 'yf_' + 7
KEY_BYTES = 32


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A fresh key: 'yf_' followed by 43 URL-safe characters (32 random bytes)."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def create_key(
    session: Session, user: User, name: str, scope: str, *, granter: Principal | None = None
) -> tuple[ApiKey, str]:
    """A new key for `user` with `scope` (and the scopes it implies); returns the row and the key itself.

    The key is shown once and never stored. An `admin` key needs an admin account; a credential
    cannot create a key with more than it holds itself (`granter`).
    """
    if scope not in SCOPES:
        raise Invalid(f"unknown scope {scope!r}: use one of {', '.join(SCOPES)}", field="scope")
    if scope == "admin" and not user.is_admin:
        raise Forbidden("only admin accounts can hold keys with the 'admin' scope", field="scope")
    if granter is not None and not expand_scopes([scope]) <= granter.scopes:
        raise Forbidden(f"this credential cannot create a key with the '{scope}' scope it lacks", field="scope")
    key = new_key()
    row = ApiKey(user_id=user.id, name=name, prefix=key[:SHOWN_PREFIX], key_hash=hash_key(key), scopes=[scope])
    session.add(row)
    session.commit()
    return row, key


# built once: it runs for every request with a key (building it anew cost more than running it)
_KEY_BY_HASH = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash")).options(joinedload(ApiKey.user))


def authenticate_key(session: Session, key: str, touch_seconds: int = 60) -> Principal:
    """The principal of a bearer key; Unauthorized (saying why) when unknown, revoked or its user disabled.

    `last_used_at` is written at most every `touch_seconds`, so reads do not turn into writes.
    """
    if not key.startswith(KEY_PREFIX):
        raise Unauthorized(f"not a yoloforge API key (they start with '{KEY_PREFIX}')")
    row = session.scalar(_KEY_BY_HASH, {"key_hash": hash_key(key)})
    if row is None:
        raise Unauthorized("invalid API key: check YOLOFORGE_API_KEY or create a key")
    if row.revoked_at is not None:
        raise Unauthorized(f"API key {row.prefix}... was revoked on {row.revoked_at:%Y-%m-%d %H:%M} UTC")
    if not row.user.is_active:
        raise Unauthorized(f"the account {row.user.name!r} is disabled")
    now = utcnow()
    principal = Principal(row.user, expand_scopes(row.scopes), via="key", key_id=row.id, bound_model_id=row.model_id)
    if row.last_used_at is None or now - row.last_used_at >= dt.timedelta(seconds=touch_seconds):
        row.last_used_at = now
        try:
            session.commit()
        except OperationalError:  # a locked SQLite database: "last used" is bookkeeping, the request goes on
            session.rollback()
    return principal


def list_keys(session: Session, user: User, *, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    """`user`'s keys (revoked ones too, newest first) and their total count."""
    where = ApiKey.user_id == user.id
    total = session.scalar(select(func.count()).select_from(ApiKey).where(where)) or 0
    rows = session.scalars(select(ApiKey).where(where).order_by(ApiKey.id.desc()).limit(limit).offset(offset))
    return list(rows), total


def revoke_key(session: Session, principal: Principal, key_id: int) -> ApiKey:
    """Revoke one of the caller's keys (an admin: anyone's); NotFound for another user's key."""
    row = session.get(ApiKey, key_id)
    if row is None or not principal.can_change(row.user_id):
        raise NotFound(f"API key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.commit()
    return row
