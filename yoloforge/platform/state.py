"""What one running app holds: settings, database, storage and signers (on `app.state.platform`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import URLSafeSerializer

from yoloforge.platform.db.session import Database
from yoloforge.platform.gpus import Catalog, load_catalog
from yoloforge.platform.services.archives import ArchiveLimits
from yoloforge.platform.services.events import Broadcaster
from yoloforge.platform.services.links import LinkSigner
from yoloforge.platform.services.storage import Storage
from yoloforge.platform.services.verifier import Verifier
from yoloforge.platform.settings import MB, ServerSettings


@dataclass
class PlatformState:
    settings: ServerSettings
    db: Database
    storage: Storage
    links: LinkSigner
    cookies: URLSafeSerializer
    verifier: Verifier
    broadcaster: Broadcaster
    catalog: Catalog = field(default_factory=load_catalog)
    runner: Any = None  # the jobs' scheduler loop (services/scheduler.JobRunner), made by `start_jobs`

    @classmethod
    def build(cls, settings: ServerSettings) -> PlatformState:
        """Open the database and storage named by `settings` (the database is not migrated here)."""
        secret = settings.secret_key()
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url, sqlite_busy_ms=int(settings.sqlite_busy_seconds * 1000)),
            storage=Storage(settings.resolved_storage_url, endpoint_url=settings.s3_endpoint_url),
            links=LinkSigner(secret),
            cookies=URLSafeSerializer(secret, salt="yoloforge-session"),
            verifier=Verifier(settings.verify_workers),
            catalog=load_catalog(settings.gpu_catalog),
            broadcaster=Broadcaster(),
        )

    def start_jobs(self) -> Any:
        """The jobs' runner (placing, following and restarting cloud jobs), made once; its loop runs when the
        settings ask for it (`jobs_scheduler`)."""
        if self.runner is None:
            from yoloforge.platform.services.scheduler import JobRunner

            self.runner = JobRunner(self)
            if self.settings.jobs_scheduler:
                self.runner.start()
        return self.runner

    def close(self) -> None:
        """Stop the jobs' loop (their workers keep running), release the database and the verification process."""
        if self.runner is not None:
            self.runner.stop()
        self.verifier.close()
        self.db.dispose()

    @property
    def limits(self) -> ArchiveLimits:
        s = self.settings
        return ArchiveLimits(s.max_upload_bytes, s.max_unpacked_mb * MB, s.max_zip_ratio, s.max_zip_entries)

    @property
    def scratch(self) -> Path:
        """Scratch space for uploads being checked (on the server's disk, whatever the storage)."""
        return self.settings.home / "tmp"
