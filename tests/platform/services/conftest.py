"""Services tested on a migrated database of their own (SQLite and PostgreSQL), without the app."""

from __future__ import annotations

import pytest


@pytest.fixture
def db(db_url):
    """A migrated Database on `db_url` (the platform conftest gives SQLite and a throwaway PostgreSQL)."""
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.db.session import Database

    database = Database(db_url)
    upgrade(database.engine)
    yield database
    database.dispose()
