"""API keys of the caller: list, create (the key is in the answer, once), revoke."""

from __future__ import annotations

from fastapi import APIRouter, Path

from yoloforge.platform.api.deps import CurrentUser, PageDep, SessionDep, needs
from yoloforge.platform.schemas.accounts import KeyCreate, KeyCreated, KeyPublic
from yoloforge.platform.schemas.common import Page
from yoloforge.platform.services import keys

router = APIRouter(prefix="/keys", tags=["keys"])
KeyId = Path(ge=1, le=2**31 - 1, description="The key's id, as listed.")


@router.get("", **needs("read"))
def list_keys(principal: CurrentUser, session: SessionDep, page: PageDep) -> Page[KeyPublic]:
    """Your keys, newest first (revoked ones too); never the keys themselves."""
    rows, total = keys.list_keys(session, principal.user, limit=page.limit, offset=page.offset)
    return Page(items=[KeyPublic.model_validate(k) for k in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=201, **needs("train"))
def create_key(body: KeyCreate, principal: CurrentUser, session: SessionDep) -> KeyCreated:
    """A new key for you; `key` in the answer is shown this once and cannot be recovered."""
    row, key = keys.create_key(session, principal.user, body.name, body.scope, granter=principal)
    return KeyCreated.model_validate({**KeyPublic.model_validate(row).model_dump(), "key": key})


@router.delete("/{key_id}", **needs("train"))
def revoke_key(principal: CurrentUser, session: SessionDep, key_id: int = KeyId) -> KeyPublic:
    """Revoke one of your keys: the next request with it is refused."""
    return KeyPublic.model_validate(keys.revoke_key(session, principal, key_id))
