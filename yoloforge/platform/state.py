"""What one running app holds: settings, database, storage and signers (on `app.state.platform`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from itsdangerous import URLSafeSerializer

from yoloforge.platform.db.session import Database
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

    @classmethod
    def build(cls, settings: ServerSettings) -> PlatformState:
        """Open the database and storage named by `settings` (the database is not migrated here)."""
        secret = settings.secret_key()
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            storage=Storage(settings.resolved_storage_url, endpoint_url=settings.s3_endpoint_url),
            links=LinkSigner(secret),
            cookies=URLSafeSerializer(secret, salt="yoloforge-session"),
            verifier=Verifier(settings.verify_workers),
            broadcaster=Broadcaster(),
        )

    def close(self) -> None:
        """Release the database connections and the verification process."""
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
