"""Datasets: upload a zip as a new immutable version (checked and reported by the library), list, read,
change, delete, and find the archive to download."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from yoloforge.platform.db import Dataset, DatasetVersion, User
from yoloforge.platform.schemas.datasets import DatasetUpdate
from yoloforge.platform.services.access import check_access, list_visible
from yoloforge.platform.services.accounts import check_name
from yoloforge.platform.services.archives import ArchiveLimits, check_zip, unpack
from yoloforge.platform.services.dataset_layout import Layout, find_layout
from yoloforge.platform.services.dataset_report import build_report
from yoloforge.platform.services.errors import Conflict, Invalid, NotFound, TooLarge
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.services.storage import CHUNK, Storage


@dataclass(frozen=True)
class Upload:
    """The form of an upload: the dataset's name, the file's name, and optional settings."""

    name: str
    filename: str
    names: list[str] | None = None
    visibility: str | None = None
    description: str | None = None


def find_dataset(session: Session, principal: Principal, owner: str, name: str, *, write: bool = False) -> Dataset:
    """The dataset `owner/name` as `principal` may see it; NotFound also when private to someone else."""
    row = session.scalar(
        select(Dataset).join(User, Dataset.owner_id == User.id).where(User.name == owner, Dataset.name == name)
    )
    return check_access(principal, row, f"dataset {owner}/{name}", write=write)


def find_version(dataset: Dataset, number: int | None) -> DatasetVersion:
    """Version `number` of `dataset` (None: the latest); NotFound says which versions exist."""
    if not dataset.versions:
        raise NotFound(f"dataset {dataset.owner.name}/{dataset.name} has no versions")
    if number is None:
        return dataset.versions[-1]
    for version in dataset.versions:
        if version.number == number:
            return version
    raise NotFound(
        f"dataset {dataset.owner.name}/{dataset.name} has no version {number} (latest: {dataset.versions[-1].number})"
    )


def list_datasets(
    session: Session, principal: Principal, *, owner: str | None, limit: int, offset: int
) -> tuple[list[Dataset], int]:
    """The caller's datasets and the public ones (own first, then by owner and name), and their count."""
    return list_visible(session, principal, Dataset, owner=owner, limit=limit, offset=offset)


def _receive(src: IO[bytes], dest: Path, limit: int, filename: str) -> str:
    """Copy the uploaded stream to `dest` in chunks (never whole in memory); returns its SHA-256."""
    h, size = hashlib.sha256(), 0
    with open(dest, "wb") as f:
        while chunk := src.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"{filename} is over the {limit >> 20} MiB limit", field="file")
            h.update(chunk)
            f.write(chunk)
    return h.hexdigest()


def _first_defect(report: dict) -> str:
    if not report["defects"]:
        return ""
    d = report["defects"][0]
    where = d["file"] + (f":{d['line']}" if d["line"] else "")
    return f" ({len(report['defects'])} defects; first: {where}: {d['message']})"


def _target(session: Session, principal: Principal, upload: Upload) -> tuple[Dataset, int]:
    """The caller's dataset of this name (created if new, not yet committed) and the next version number."""
    mine = select(Dataset).where(Dataset.owner_id == principal.user.id)
    dataset = session.scalar(mine.where(func.lower(Dataset.name) == upload.name.lower()))
    if dataset is not None and dataset.name != upload.name:
        raise Conflict(f"you have a dataset named {dataset.name!r}: upload to that name to add a version", field="name")
    if dataset is None:
        dataset = Dataset(owner_id=principal.user.id, name=upload.name, description="", visibility="private")
        session.add(dataset)
        session.flush()
    if upload.visibility is not None:
        dataset.visibility = upload.visibility
    if upload.description is not None:
        dataset.description = upload.description
    number = (
        session.scalar(select(func.max(DatasetVersion.number)).where(DatasetVersion.dataset_id == dataset.id)) or 0
    ) + 1
    return dataset, number


def add_version(
    session: Session,
    storage: Storage,
    principal: Principal,
    src: IO[bytes],
    upload: Upload,
    *,
    limits: ArchiveLimits,
    scratch: Path,
    verify: Callable[[Path, Layout], dict[str, Any]] = build_report,
) -> DatasetVersion:
    """Check the uploaded zip, verify its labels, store it and record a new version of `upload.name`.

    Blocking (unzips and decodes every image): call it from a worker thread. Raises Invalid (422)
    naming the problem, TooLarge (413) past a limit, Conflict (409) when a concurrent upload took
    the version number.
    """
    check_name(upload.name)
    scratch.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))
    try:
        archive = staging / "archive.zip"
        sha256 = _receive(src, archive, limits.max_bytes, upload.filename)
        check_zip(archive, limits, upload.filename)
        unpack(archive, staging / "tree", upload.filename)
        layout = find_layout(staging / "tree", staging, upload.names)
        report = verify(staging / "tree", layout)
        if report["images"] == 0:
            raise Invalid(f"{upload.filename}: no usable image in any split{_first_defect(report)}", field="file")
        try:
            dataset, number = _target(session, principal, upload)
        except IntegrityError as e:  # a concurrent first upload created the dataset
            session.rollback()
            raise Conflict(f"another upload of {upload.name!r} finished first: upload again", field="name") from e
        # a fresh key per upload: a concurrent upload that loses the version number never overwrites the winner
        stored = storage.put_file(f"datasets/{dataset.id}/{uuid.uuid4().hex}.zip", archive)
        if stored.sha256 != sha256:
            raise RuntimeError(f"storage wrote {stored.sha256} for an upload of sha256 {sha256}")
        version = DatasetVersion(
            dataset_id=dataset.id,
            number=number,
            filename=upload.filename,
            storage_key=stored.key,
            size=stored.size,
            sha256=sha256,
            images=report["images"],
            instances=report["instances"],
            defects=len(report["defects"]),
            layout=layout.as_json(),
            report=report,
        )
        session.add(version)
        try:
            session.commit()
        except IntegrityError as e:
            session.rollback()
            storage.delete(stored.key)
            raise Conflict(f"another upload of {upload.name!r} finished first: upload again", field="name") from e
        session.refresh(dataset)
        return version
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def update_dataset(session: Session, principal: Principal, owner: str, name: str, data: DatasetUpdate) -> Dataset:
    dataset = find_dataset(session, principal, owner, name, write=True)
    for key, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(dataset, key, value)
    session.commit()
    return dataset


def delete_dataset(session: Session, storage: Storage, principal: Principal, owner: str, name: str) -> None:
    """Delete the dataset, all its versions and their archives (models keep running: their link becomes null)."""
    dataset = find_dataset(session, principal, owner, name, write=True)
    prefix = f"datasets/{dataset.id}"
    session.delete(dataset)
    session.commit()
    storage.delete_prefix(prefix)
