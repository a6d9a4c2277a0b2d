"""A throwaway PostgreSQL cluster in a temporary folder, for tests.

pg_ctl and initdb are looked up on PATH, then in Debian's /usr/lib/postgresql/*/bin. PostgreSQL refuses
to run as root, so under root the cluster is created and run as the `postgres` (or `nobody`) user; this
is why pytest-postgresql (which runs the server as the current user) is not used. The cluster is
tuned for tests (no fsync), listens on 127.0.0.1 only, and trusts local connections.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path


def find_bin_dir() -> Path | None:
    """The folder holding pg_ctl, initdb and postgres, or None when PostgreSQL is not installed."""
    candidates = [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]
    for c in candidates:
        if c and (Path(c).parent / "initdb").exists():
            return Path(os.path.realpath(c)).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise RuntimeError("running as root without a 'postgres' or 'nobody' user to run PostgreSQL as")


@dataclass
class PostgresCluster:
    """A running cluster; `url(db)` gives a SQLAlchemy URL of one of its databases."""

    root: Path
    port: int
    bin_dir: Path
    user: tuple[int, int] | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _pg(self, *args: str) -> subprocess.CompletedProcess:
        kwargs = {"user": self.user[0], "group": self.user[1]} if self.user else {}
        return subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]], capture_output=True, text=True, check=True, **kwargs
        )

    def execute(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True) as c:
            c.execute(sql)  # type: ignore[arg-type]

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its name."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        self.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def stop(self) -> None:
        try:
            self._pg("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_cluster(bin_dir: Path) -> PostgresCluster:
    """initdb + pg_ctl start in a fresh folder under /tmp (world-traversable, so a dropped user can use it)."""
    root = Path(tempfile.mkdtemp(prefix="yf-pg-", dir="/tmp"))
    user = _run_as()
    if user:
        os.chown(root, *user)
    cluster = PostgresCluster(root, free_port(), bin_dir, user)
    data = str(root / "data")
    try:
        cluster._pg(
            "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions"
        )
        options = (
            f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        cluster._pg("pg_ctl", "-D", data, "-o", options, "-l", str(root / "log"), "-w", "-t", "60", "start")
    except subprocess.CalledProcessError as e:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"could not start PostgreSQL: {e.stderr or e.stdout}\n{log}") from e
    return cluster
