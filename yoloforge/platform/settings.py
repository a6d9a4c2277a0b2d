"""The server's settings: one typed schema read from arguments, then YOLOFORGE_SERVER_* variables, then defaults.

Embedded defaults need no setup: everything lives under `home` (a SQLite database, a `storage/` folder
and the session-signing secret). Production points `database_url` at PostgreSQL
(`postgresql+psycopg://user:pass@host/db`) and `storage_url` at S3 (`s3://bucket/prefix`; credentials
from the usual AWS_* variables, `s3_endpoint_url` for S3-compatible stores such as MinIO).

Reading settings never writes; `secret_key()` creates the secret file (mode 0600) the first time the
server needs it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from decimal import Decimal
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "YOLOFORGE_SERVER_"
SECRET_FILE = "secret_key"
MB = 1 << 20


def default_home() -> Path:
    """The user data folder's `server/`: $XDG_DATA_HOME/yoloforge/server, else ~/.local/share/yoloforge/server."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "yoloforge" / "server"


class ServerSettings(BaseSettings):
    """Everything the server reads at start; see the module docstring for the defaults' layout."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    home: Path = Field(default_factory=default_home, description="Folder of the embedded database, files, secret.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///<home>/yoloforge.db.")
    storage_url: str | None = Field(None, description="Where files go: a folder, file://..., or s3://bucket/prefix.")
    s3_endpoint_url: str | None = Field(None, description="Endpoint of an S3-compatible store (MinIO, moto).")
    host: str = Field("127.0.0.1", description="Interface to listen on.")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    secret: SecretStr | None = Field(None, description="Session-signing secret; default: <home>/secret_key.")
    session_days: int = Field(14, ge=1, le=365, description="Lifetime of a browser session.")
    secure_cookies: bool = Field(False, description="Mark the session cookie Secure (set behind HTTPS).")
    max_upload_mb: int = Field(4096, ge=1, description="Largest dataset archive accepted, in MiB.")
    max_unpacked_mb: int = Field(16384, ge=1, description="Largest unpacked size of an archive, in MiB.")
    max_zip_ratio: float = Field(100.0, ge=1.0, description="Largest unpacked/packed size ratio (zip bombs).")
    max_zip_entries: int = Field(500_000, ge=1, description="Most entries in one archive.")
    verify_workers: int = Field(0, ge=0, le=256, description="Processes verifying a large upload; 0: one per core.")
    sqlite_busy_seconds: float = Field(
        30.0, gt=0, le=600, description="SQLite: how long a write waits for another's lock before answering 503."
    )
    key_touch_seconds: int = Field(60, ge=0, description="An API key's last-used time is written at most this often.")
    welcome_credit: Decimal = Field(
        Decimal("5.00"), ge=0, le=100_000, decimal_places=2, description="USD granted to each new account, once."
    )
    min_start_balance: Decimal = Field(
        Decimal("5.00"), ge=0, le=100_000, decimal_places=2,
        description="USD an account needs to start or resume a job on a paid GPU type (unless it pays per job).",
    )  # fmt: skip
    # --- cloud training jobs (issue 12) ---
    gpu_catalog: Path | None = Field(None, description="GPU catalog YAML; default: the packaged gpus.yaml.")
    ray_address: str | None = Field(None, description="Ray cluster address for pools with executor: ray.")
    public_url: str | None = Field(None, description="URL workers use to reach this server; default http://host:port.")
    scheduler_interval: float = Field(1.0, gt=0, le=60, description="Seconds between scheduler passes.")
    heartbeat_timeout: float = Field(120.0, gt=0, description="Seconds without a heartbeat before a job is retried.")
    max_restarts: int = Field(3, ge=0, le=100, description="Automatic restarts of a job whose worker died.")
    default_job_quota: int = Field(1, ge=0, le=10_000, description="Running cloud jobs per account (admin can change).")
    jobs_scheduler: bool = Field(True, description="Run the scheduler loop in this server process.")
    smtp_host: str | None = Field(None, description="SMTP server for e-mail notifications (none: no e-mail).")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    smtp_from: str = Field("yoloforge@localhost", description="Sender address of notification e-mails.")
    smtp_user: str | None = Field(None, description="SMTP login, when the server needs one.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    # --- remote training streams (issue 11) ---
    lost_after_seconds: float = Field(300.0, gt=0, description="A streaming run silent this long becomes `lost`.")
    fault_rate: float = Field(0.0, ge=0, le=1, description="Drills: this share of streaming requests fails (500).")
    fault_seed: int | None = Field(None, description="Drills: seed of the fault injector.")
    sse_poll_seconds: float = Field(
        5.0,
        gt=0,
        le=60,
        description="SSE streams re-read the event log after this long without news (events of "
        "other server processes; 1 s is right with uvicorn --workers N).",
    )

    @field_validator("home")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().absolute()

    @property
    def resolved_database_url(self) -> str:
        """`database_url`, or the SQLite file under `home`."""
        return self.database_url or f"sqlite:///{self.home / 'yoloforge.db'}"

    @property
    def resolved_storage_url(self) -> str:
        """`storage_url`, or the `storage/` folder under `home`."""
        return self.storage_url or str(self.home / "storage")

    @property
    def resolved_public_url(self) -> str:
        """`public_url`, or http://host:port (0.0.0.0 and :: become 127.0.0.1 for local workers)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def jobs_dir(self) -> Path:
        """Folder of the jobs' working folders (one per model: logs, run folder, exit codes)."""
        return self.home / "jobs"

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * MB

    def secret_key(self) -> str:
        """The secret that signs session cookies and download links: given, else read or created in `home`.

        Created once with mode 0600 by linking a finished temporary file into place, so two servers
        starting together agree on one secret.
        """
        if self.secret is not None:
            return self.secret.get_secret_value()
        path = self.home / SECRET_FILE
        if not path.exists():
            self.home.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
            with contextlib.suppress(FileExistsError):  # another process won: use its secret
                os.link(tmp, path)
            tmp.unlink()
        return path.read_text().strip()
