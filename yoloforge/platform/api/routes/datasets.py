"""Datasets: upload (POST /datasets, multipart), list, read, change, delete, versions and downloads."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool

from yoloforge.platform.api.deps import (
    LINK_OR_READ,
    CurrentUser,
    LinkToken,
    OptionalUser,
    PageDep,
    SessionDep,
    StateDep,
    key_or_link,
    needs,
)
from yoloforge.platform.api.downloads import DOWNLOAD_RESPONSES, object_response
from yoloforge.platform.api.params import DatasetPath, OwnerPath
from yoloforge.platform.db import Dataset, DatasetVersion
from yoloforge.platform.schemas.common import NAME_PATTERN, Page, Visibility
from yoloforge.platform.schemas.datasets import DatasetPublic, DatasetUpdate, DatasetVersionPublic, VersionSummary
from yoloforge.platform.services import datasets
from yoloforge.platform.services.errors import Invalid, Unauthorized
from yoloforge.platform.services.principal import Principal
from yoloforge.platform.state import PlatformState

router = APIRouter(prefix="/datasets", tags=["datasets"])
upload_router = APIRouter(prefix="/datasets", tags=["datasets"])  # included with the upload size limit
VersionQuery = Query(ge=1, le=10**6, description="Version number; default the latest.")


def dataset_public(ds: Dataset) -> DatasetPublic:
    return DatasetPublic(
        owner=ds.owner.name,
        name=ds.name,
        description=ds.description,
        visibility=ds.visibility,  # type: ignore[arg-type]
        created_at=ds.created_at,
        updated_at=ds.updated_at,
        uri=f"yf://{ds.owner.name}/datasets/{ds.name}",
        latest_version=ds.versions[-1].number if ds.versions else 0,
        versions=[VersionSummary.model_validate(v) for v in ds.versions],
    )


def version_public(ds: Dataset, v: DatasetVersion, principal: Principal, state: PlatformState) -> DatasetVersionPublic:
    token = state.links.sign(principal.user.id, "dataset_version", v.id)
    url = f"/api/v1/datasets/{ds.owner.name}/{ds.name}/download?version={v.number}&token={token}"
    return DatasetVersionPublic.model_validate(
        {
            **VersionSummary.model_validate(v).model_dump(),
            "owner": ds.owner.name,
            "name": ds.name,
            "uri": f"yf://{ds.owner.name}/datasets/{ds.name}:{v.number}",
            "layout": v.layout,
            "report": v.report,
            "download_url": url,
        }
    )


def _parse_names(names: str | None) -> list[str] | None:
    """Class names from the form: a JSON list, or comma-separated, in class-id order."""
    if names is None or not names.strip():
        return None
    text = names.strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as e:
            raise Invalid(f"names is not a valid JSON list ({e.msg})", field="names") from e
        if not isinstance(parsed, list) or not all(isinstance(n, str) and n.strip() for n in parsed):
            raise Invalid("names must be a list of non-empty strings", field="names")
        return [n.strip() for n in parsed]
    parts = [n.strip() for n in text.split(",")]
    if not all(parts):
        raise Invalid("names has an empty entry: write them comma-separated, e.g. 'person,car'", field="names")
    return parts


@upload_router.post("", status_code=201, **needs("train"))
async def upload_dataset(
    principal: CurrentUser,
    session: SessionDep,
    state: StateDep,
    file: Annotated[UploadFile, File(description="A zip of a YOLO dataset: a dataset YAML, or images/ and labels/.")],
    name: Annotated[str, Form(pattern=NAME_PATTERN, max_length=64, description="The dataset's name.")],
    names: Annotated[
        str | None, Form(max_length=100_000, description="Class names without a YAML: 'a,b' or JSON.")
    ] = None,
    visibility: Annotated[Visibility | None, Form(description="private (default for a new dataset) or public.")] = None,
    description: Annotated[str | None, Form(max_length=10_000)] = None,
) -> DatasetVersionPublic:
    """Upload a zip as a new version of your dataset `name` (created on first upload).

    The archive is checked (size, zip-bomb ratio, escaping entries), unpacked, verified by the library's
    label checks, and stored; the answer holds the report: images, instances, per-class counts, defects.
    """
    upload = datasets.Upload(
        name=name,
        filename=file.filename or "dataset.zip",
        names=_parse_names(names),
        visibility=visibility,
        description=description,
    )
    version = await run_in_threadpool(  # unzipping and decoding images must not block the event loop
        datasets.add_version,
        session,
        state.storage,
        principal,
        file.file,
        upload,
        limits=state.limits,
        scratch=state.scratch,
        verify=state.verifier,
    )
    return version_public(version.dataset, version, principal, state)


@router.get("", **needs("read"))
def list_datasets(
    principal: CurrentUser,
    session: SessionDep,
    page: PageDep,
    owner: Annotated[str | None, Query(max_length=64, description="Only this owner's datasets.")] = None,
) -> Page[DatasetPublic]:
    """Your datasets and the public ones (yours first)."""
    rows, total = datasets.list_datasets(session, principal, owner=owner, limit=page.limit, offset=page.offset)
    return Page(items=[dataset_public(d) for d in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/{owner}/{name}", **needs("read"))
def get_dataset(owner: OwnerPath, name: DatasetPath, principal: CurrentUser, session: SessionDep) -> DatasetPublic:
    return dataset_public(datasets.find_dataset(session, principal, owner, name))


@router.patch("/{owner}/{name}", **needs("train"))
def update_dataset(
    owner: OwnerPath, name: DatasetPath, body: DatasetUpdate, principal: CurrentUser, session: SessionDep
) -> DatasetPublic:
    """Change the description or visibility; versions never change."""
    return dataset_public(datasets.update_dataset(session, principal, owner, name, body))


@router.delete("/{owner}/{name}", status_code=204, **needs("train"))
def delete_dataset(
    owner: OwnerPath, name: DatasetPath, principal: CurrentUser, session: SessionDep, state: StateDep
) -> None:
    """Delete the dataset, every version and their archives."""
    datasets.delete_dataset(session, state.storage, principal, owner, name)


@router.get("/{owner}/{name}/versions/{number}", **needs("read"))
def get_version(
    owner: OwnerPath,
    name: DatasetPath,
    principal: CurrentUser,
    session: SessionDep,
    state: StateDep,
    number: Annotated[int, Path(ge=1, le=10**6, description="The version number.")],
) -> DatasetVersionPublic:
    """One version: its layout, its validation report and a signed download link (valid one hour)."""
    ds = datasets.find_dataset(session, principal, owner, name)
    return version_public(ds, datasets.find_version(ds, number), principal, state)


@router.get("/{owner}/{name}/download", responses=DOWNLOAD_RESPONSES, response_model=None, **LINK_OR_READ)
def download_dataset(
    request: Request,
    owner: OwnerPath,
    name: DatasetPath,
    principal: OptionalUser,
    session: SessionDep,
    state: StateDep,
    version: Annotated[int | None, VersionQuery] = None,
    token: LinkToken = None,
) -> Response:
    """The version's zip archive, with its SHA-256 in `X-Checksum-SHA256`; `Range` resumes a download."""
    principal, row_id = key_or_link(principal, token, session, state, "dataset_version")
    ds = datasets.find_dataset(session, principal, owner, name)
    v = datasets.find_version(ds, version)
    if row_id is not None and row_id != v.id:
        raise Unauthorized("download link is for another version")
    filename = f"{ds.owner.name}-{ds.name}-v{v.number}.zip"
    return object_response(
        request,
        state.storage,
        v.storage_key,
        size=v.size,
        sha256=v.sha256,
        filename=filename,
        media_type="application/zip",
    )
