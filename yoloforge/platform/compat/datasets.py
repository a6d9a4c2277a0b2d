"""`data=ul://owner/datasets/name` for the Ultralytics client: an export URL, an NDJSON manifest, image files.

The manifest is built from the stored zip and its layout (services/dataset_layout.py): a dataset line
(task, class names) and one line per image (file, split, url, YOLO label rows under `boxes`). The manifest
and image URLs are signed links (the client fetches them without a key), valid for an hour like every
download link of the server. Image bytes are read from the zip in storage, member by member.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from yoloforge.platform.api.deps import SessionDep, StateDep
from yoloforge.platform.compat.auth import base_url, error_reply, principal_of
from yoloforge.platform.db import DatasetVersion
from yoloforge.platform.schemas.common import NAME_PATTERN
from yoloforge.platform.services import datasets
from yoloforge.platform.services.errors import NotFound, ServiceError, Unauthorized

router = APIRouter(include_in_schema=False)
Name = Annotated[str, Path(pattern=NAME_PATTERN, max_length=64)]
Token = Annotated[str, Path(max_length=1000)]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
MEDIA = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp"}


@router.get("/api/datasets/{owner}/{name}/export")
def export(request: Request, owner: Name, name: Name, session: SessionDep, state: StateDep) -> JSONResponse:
    """The latest version's manifest URL (`?v=N` picks a version)."""
    try:
        principal = principal_of(request, session, scope="read")
        dataset = datasets.find_dataset(session, principal, owner, name)
        v = request.query_params.get("v")
        version = datasets.find_version(dataset, int(v) if v and v.isdigit() else None)
    except ServiceError as e:
        return error_reply(e)
    token = state.links.sign(principal.user.id, "ul-manifest", version.id)
    url = f"{base_url(request)}/api/compat/datasets/{token}/{name}.ndjson"
    return JSONResponse({"downloadUrl": url, "version": version.number})


def _version(session: Any, state: Any, token: str, kind: str) -> DatasetVersion:
    try:
        _, version_id = state.links.open(token, kind)
    except Exception as e:  # expired, forged or for something else
        raise Unauthorized("link not valid (expired, or for something else): ask for the export again") from e
    version = session.get(DatasetVersion, version_id)
    if version is None:
        raise NotFound("dataset version not found")
    return version


@router.get("/api/compat/datasets/{token}/{filename}")
def manifest(request: Request, token: Token, filename: str, session: SessionDep, state: StateDep) -> Response:
    """The NDJSON manifest of a dataset version."""
    try:
        version = _version(session, state, token, "ul-manifest")
    except ServiceError as e:
        return JSONResponse({"detail": e.message}, status_code=e.status)
    image_token = state.links.sign(0, "ul-images", version.id)
    lines = list(_manifest_lines(state, version, f"{base_url(request)}/api/compat/images/{image_token}"))
    return Response("\n".join(lines) + "\n", media_type="application/x-ndjson")


def _manifest_lines(state: Any, version: DatasetVersion, image_base: str) -> Iterator[str]:
    layout = version.layout
    names = layout.get("names") or []
    yield json.dumps({"type": "dataset", "task": "detect", "name": version.dataset.name,
                      "class_names": {str(i): n for i, n in enumerate(names)}})  # fmt: skip
    with state.storage.open(version.storage_key) as f, zipfile.ZipFile(f) as zf:
        members = {i.filename: i for i in zf.infolist() if not i.is_dir()}
        positions = {name: i for i, name in enumerate(members)}
        for split in ("train", "val", "test"):
            for image in _images(layout, split, members):
                label = _label_of(image)
                rows = []
                if label in members:
                    text = zf.read(members[label]).decode("utf-8", "replace")
                    rows = [
                        [int(float(p[0])), *map(float, p[1:])] for p in (ln.split() for ln in text.splitlines()) if p
                    ]
                index = positions[image]
                yield json.dumps({"type": "image", "file": posixpath.basename(image), "split": split,
                                  "url": f"{image_base}/{index}/{posixpath.basename(image)}",
                                  "annotations": {"boxes": rows}})  # fmt: skip


def label_rows(text: str) -> list[list[float]]:
    """YOLO label lines as [class, cx, cy, w, h] rows (the class an int)."""
    rows: list[list[float]] = []
    for line in text.splitlines():
        parts = line.split()
        if parts:
            rows.append([int(float(parts[0])), *map(float, parts[1:])])
    return rows


def _images(layout: dict[str, Any], split: str, members: dict[str, Any]) -> list[str]:
    root = layout.get("root") or "."
    out: list[str] = []
    for src in layout.get(split) or []:
        prefix = posixpath.normpath(posixpath.join(root, src)).lstrip("./") + "/"
        out += sorted(m for m in members if m.startswith(prefix) and m.lower().endswith(IMAGE_SUFFIXES))
    return out


def _label_of(image: str) -> str:
    parts = image.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return posixpath.splitext("/".join(parts))[0] + ".txt"


@router.get("/api/compat/images/{token}/{index}/{filename}")
def image(token: Token, index: int, filename: str, session: SessionDep, state: StateDep) -> Response:
    """One image of a dataset version, read from its zip."""
    try:
        version = _version(session, state, token, "ul-images")
    except ServiceError as e:
        return JSONResponse({"detail": e.message}, status_code=e.status)
    f = state.storage.open(version.storage_key)
    zf = zipfile.ZipFile(f)
    infos = [i for i in zf.infolist() if not i.is_dir()]
    if not 0 <= index < len(infos) or posixpath.basename(infos[index].filename) != filename:
        zf.close()
        f.close()
        return JSONResponse({"detail": "image not found"}, status_code=404)
    info = infos[index]

    def body() -> Iterator[bytes]:
        try:
            with zf.open(info) as member:
                while block := member.read(1 << 20):
                    yield block
        finally:
            zf.close()
            f.close()

    media = MEDIA.get(posixpath.splitext(filename)[1].lower(), "application/octet-stream")
    return StreamingResponse(body(), media_type=media, headers={"Content-Length": str(info.file_size)})
