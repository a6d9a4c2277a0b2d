"""Alembic environment: runs against the engine handed over in `config.attributes["engine"]`.

Autogenerate a new migration from the models with:
    .venv/bin/python -m yoloforge.platform.db.revision "what changed"
"""

from __future__ import annotations

from typing import Any

from alembic import context

from yoloforge.platform.db import Base
from yoloforge.platform.db.base import UTCDateTime


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our UTC timestamp as the plain `sa.DateTime(timezone=True)` it stores (no import of our code)."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
engine = config.attributes.get("engine")
if engine is None:
    raise RuntimeError("run migrations through yoloforge.platform.db.migrate (it passes the engine)")

with engine.begin() as connection:
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True, render_item=render_item
    )
    with context.begin_transaction():
        context.run_migrations()
