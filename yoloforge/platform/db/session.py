"""Engine and sessions: SQLite tuned for a server (WAL, foreign keys, a busy timeout), PostgreSQL as is."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(busy_ms: int) -> Any:
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA foreign_keys=ON")  # ON DELETE CASCADE and references are enforced
        cur.execute("PRAGMA journal_mode=WAL")  # readers do not block the writer
        cur.execute(f"PRAGMA busy_timeout={int(busy_ms)}")  # a second writer waits instead of failing at once
        cur.execute("PRAGMA synchronous=NORMAL")  # durable with WAL at a fraction of FULL's fsyncs
        cur.close()

    return on_connect


# up to 40 connections: as many as the worker threads that run sync routes (anyio's default), so a thread never
# waits for a connection another request holds (SQLAlchemy's default is 5 + 10). A SQLite connection opened is
# kept (opening one and its pragmas cost ~0.3 ms, and 200 streaming runs opened and closed overflow ones all
# the time); PostgreSQL keeps 10 and opens the rest when busy.
POOL = {"pool_size": 10, "max_overflow": 30}
SQLITE_POOL = {"pool_size": 40, "max_overflow": 0}
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class SqliteWriteGate:
    """Writers of one process take turns on a lock before SQLite's own write lock.

    SQLite lets one connection write at a time and makes the others poll (sleeps of up to 100 ms, no queue), so
    under many concurrent writes most of the time goes to sleeping and an unlucky writer can wait out its whole
    busy timeout. A waiting thread here wakes as soon as the writer before it commits. The lock is taken at a
    connection's first write statement (pysqlite begins the transaction there too) and given back when that
    transaction ends; the thread holding it may take it again, so a nested session of the same thread reaches
    SQLite (which then decides, as without the gate). Other processes still meet SQLite's busy timeout. Written
    here because neither SQLAlchemy nor pysqlite queues writers.
    """

    def __init__(self, engine: Engine, timeout: float) -> None:
        self.lock, self.timeout = _Turn(), timeout
        event.listen(engine, "before_cursor_execute", self._before)
        for name in ("commit", "rollback"):
            event.listen(engine, name, self._after_connection)
        event.listen(engine.pool, "reset", self._on_reset)
        event.listen(engine.pool, "checkin", self._on_checkin)
        event.listen(engine.pool, "close", self._on_checkin)
        event.listen(engine.pool, "invalidate", self._on_invalidate)

    def _before(self, conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        info = conn.connection.info  # per DBAPI connection
        if not info.get("gate") and statement.lstrip()[:7].upper().startswith(WRITES):
            info["gate"] = self.lock.acquire(timeout=self.timeout)  # False: SQLite's busy timeout decides

    def _after_connection(self, conn: Any) -> None:
        self._release(conn.connection.info)

    def _on_reset(self, dbapi_connection: Any, connection_record: Any, reset_state: Any) -> None:
        self._on_checkin(dbapi_connection, connection_record)

    def _on_invalidate(self, dbapi_connection: Any, connection_record: Any, exception: Any) -> None:
        self._on_checkin(dbapi_connection, connection_record)

    def _on_checkin(self, dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record is not None:
            self._release(connection_record.info)

    def _release(self, info: dict[str, Any]) -> None:
        if info.pop("gate", False):
            self.lock.release()


class _Turn:
    """A lock that the thread holding it may take again, and that any thread may give back (a transaction can end
    on another thread of the pool than the one that began it: FastAPI closes a request's session elsewhere)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._count = 0
        self._guard = threading.Lock()

    def acquire(self, timeout: float) -> bool:
        me = threading.get_ident()
        with self._guard:
            if self._owner == me:
                self._count += 1
                return True
        if not self._lock.acquire(timeout=timeout):
            return False
        with self._guard:
            self._owner, self._count = me, 1
        return True

    def release(self) -> None:
        with self._guard:
            self._count -= 1
            if self._count > 0:
                return
            self._owner = None
        self._lock.release()


def make_engine(url: str, *, sqlite_busy_ms: int = 30_000, **kwargs: Any) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql+psycopg://...); the SQLite folder is created. A SQLite
    writer waits up to `sqlite_busy_ms` for another's lock (then "database is locked", answered 503)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            from pathlib import Path

            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            kwargs = {**SQLITE_POOL, **kwargs}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas(sqlite_busy_ms))
        SqliteWriteGate(engine, sqlite_busy_ms / 1000)
        return engine
    return create_engine(url, pool_pre_ping=True, **{**POOL, **kwargs})


class Database:
    """An engine and its session factory; one per app."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session committed on success and rolled back on any exception."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
