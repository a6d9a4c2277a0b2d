"""The demo of `yoloforge server --demo` (`make serve`): an admin account and the packaged coco8 as a
public dataset, each created once."""

from __future__ import annotations

import io
import os
import secrets
import zipfile
from pathlib import Path

from sqlalchemy import select

from yoloforge.platform.db import Dataset, User
from yoloforge.platform.state import PlatformState

DEMO_ADMIN = "admin"
DEMO_DATASET = "coco8"


def zip_folder(files: dict[str, Path]) -> bytes:
    """A zip (in memory: for small demo data only) of {name in archive: file}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, path in sorted(files.items()):
            zf.write(path, arcname)
    return buf.getvalue()


def coco8_zip() -> bytes:
    """The packaged coco8 (its YAML and its folder) as a dataset archive."""
    from yoloforge.data.dataset_yaml import PACKAGED_DIR

    root = PACKAGED_DIR / "coco8"
    files = {"coco8.yaml": PACKAGED_DIR / "coco8.yaml"}
    for folder, _, names in os.walk(root):
        for name in names:
            path = Path(folder) / name
            files[str(path.relative_to(PACKAGED_DIR))] = path
    return zip_folder(files)


def ensure_demo(state: PlatformState) -> list[str]:
    """Create the demo admin and dataset if missing; returns lines to print (the password only when created)."""
    from yoloforge.platform.services import accounts, datasets
    from yoloforge.platform.services.billing_rules import BillingPolicy
    from yoloforge.platform.services.principal import Principal, session_scopes

    lines = []
    with state.db.sessions() as session:
        admin = session.scalar(select(User).where(User.name == DEMO_ADMIN))
        if admin is None:
            password = secrets.token_urlsafe(12)
            welcome = BillingPolicy.from_settings(state.settings).welcome_cents
            admin = accounts.create_user(session, DEMO_ADMIN, password, is_admin=True, welcome_cents=welcome)
            lines.append(f"created admin account '{DEMO_ADMIN}' with password: {password}  (shown once: note it)")
        else:
            lines.append(f"admin account '{DEMO_ADMIN}' exists (its password was printed when it was created)")
        exists = session.scalar(select(Dataset.id).where(Dataset.owner_id == admin.id, Dataset.name == DEMO_DATASET))
        if exists is None:
            principal = Principal(admin, session_scopes(admin), via="session")
            upload = datasets.Upload(
                name=DEMO_DATASET, filename="coco8.zip", visibility="public", description="COCO8 sample"
            )
            version = datasets.add_version(
                session,
                state.storage,
                principal,
                io.BytesIO(coco8_zip()),
                upload,
                limits=state.limits,
                scratch=state.scratch,
                verify=state.verifier,
            )
            lines.append(f"added public dataset {DEMO_ADMIN}/{DEMO_DATASET} ({version.images} images): "
                         f"train with data=yf://{DEMO_ADMIN}/datasets/{DEMO_DATASET}")  # fmt: skip
    return lines
