"""The migrations and the models agree, on SQLite and PostgreSQL; migrating is idempotent and reversible."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from yoloforge.platform.db import Base
from yoloforge.platform.db.migrate import current_revision, head_revision, upgrade
from yoloforge.platform.db.session import make_engine


def _diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(ctx, Base.metadata)


def test_models_match_migrations(tmp_path, request) -> None:
    """Autogenerate against a database at head finds nothing to add: no table, column, index or type differs."""
    urls = {"sqlite": f"sqlite:///{tmp_path / 'm.db'}"}
    from tests.platform.support.postgres import find_bin_dir

    if find_bin_dir() is not None:
        cluster = request.getfixturevalue("pg_cluster")
        urls["postgresql"] = cluster.url(cluster.create_database())
    for name, url in urls.items():
        engine = make_engine(url)
        assert current_revision(engine) is None
        assert upgrade(engine) is None  # from empty
        assert current_revision(engine) == head_revision()
        assert _diff(engine) == [], f"{name}: models and migrations differ; write a migration"
        assert upgrade(engine) == head_revision()  # a second start changes nothing
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        engine.dispose()


def test_a_changed_model_is_noticed(tmp_path) -> None:
    """The comparison is not vacuous: a column the migrations lack is reported."""
    from sqlalchemy import Column, Integer, MetaData, Table

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    extra = MetaData()
    for table in Base.metadata.tables.values():
        table.to_metadata(extra)
    Table("users", extra, Column("shoe_size", Integer), extend_existing=True)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), extra)
    assert any(d[0] == "add_column" and d[3].name == "shoe_size" for d in diff)
    engine.dispose()


def test_downgrade_to_empty_and_back(tmp_path) -> None:
    from alembic import command

    from yoloforge.platform.db.migrate import alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    command.downgrade(alembic_config(engine), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()
