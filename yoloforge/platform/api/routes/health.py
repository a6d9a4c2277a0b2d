"""GET /health: is the server up, which database and storage it uses (no sign-in; tests wait on it)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import text

from yoloforge.platform.api.deps import PUBLIC, SessionDep, StateDep

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: str
    version: str
    database: str
    storage: str


@router.get("/health", **PUBLIC)
def health(session: SessionDep, state: StateDep) -> Health:
    """The server answers and its database does too."""
    from yoloforge import __version__

    session.execute(text("SELECT 1"))
    return Health(
        status="ok",
        version=__version__,
        database=state.db.engine.dialect.name,
        storage="file" if state.storage.local else state.storage.url.split("://", 1)[0],
    )
