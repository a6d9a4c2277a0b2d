"""Pretrained weights by name: `model=yolo11n.pt` works with no such file, as in Ultralytics' docs.

For a bare published name (yolo11{n,s,m,l,x}.pt, yolov8{n,s,m,l,x}.pt) that is not a file in the working
folder, `resolve_weights` looks in the weights folder (user setting `weights_dir`), else downloads
Ultralytics' release asset (https://github.com/ultralytics/assets/releases/download/v8.3.0/<name>: the tag
Ultralytics' own downloader uses for both families), or `$YOLOFORGE_WEIGHTS_URL/<name>` from a mirror. The
download goes through `yoloforge.data.download.fetch` (a broken transfer resumes from `<weights_dir>/
.downloads/<name>.part`), is imported with the safe importer (`nn.foreign`: nothing in the file runs) and
kept as a yoloforge checkpoint at `<weights_dir>/<name>`, so the next load needs no download and no
conversion. An Ultralytics file put there by hand is converted in place on first use.

The weights are published by Ultralytics under AGPL-3.0; that is logged once per process. Ultralytics
publishes no digest for these assets, so none is pinned: the sha256 of the downloaded file is logged and
kept in the converted checkpoint's `source` entry.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from yoloforge.errors import CheckpointError
from yoloforge.utils.log import LOGGER

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v8.3.0"
URL_ENV = "YOLOFORGE_WEIGHTS_URL"
PUBLISHED = frozenset(f"{family}{size}.pt" for family in ("yolo11", "yolov8") for size in "nsmlx")
LICENSE = "AGPL-3.0"
_noticed: set[str] = set()


class WeightsDownloadError(CheckpointError):
    """Published weights are neither on disk nor downloadable (offline, mirror down).

    `url` is where they were asked for, `reason` why that failed, `path` where a copy put by hand is found.
    """

    def __init__(self, message: str, url: str = "", reason: str = "", path: Path | None = None) -> None:
        super().__init__(message)
        self.url, self.reason, self.path = url, reason, path


def is_published(name: str | os.PathLike[str]) -> bool:
    """True for a bare published name like 'yolo11n.pt' (no folder part)."""
    text = os.fspath(name)
    return text in PUBLISHED


def weights_url(name: str) -> str:
    """Where `name` is downloaded from: `$YOLOFORGE_WEIGHTS_URL/<name>` when set, else Ultralytics' release."""
    base = os.environ.get(URL_ENV, "").strip() or RELEASE_URL
    return f"{base.rstrip('/')}/{name}"


def _notice(name: str) -> None:
    if name not in _noticed:
        _noticed.add(name)
        LOGGER.info("%s: pretrained weights published by Ultralytics under the %s license "
                    "(https://github.com/ultralytics/assets)", name, LICENSE)  # fmt: skip


def resolve_weights(source: str | os.PathLike[str]) -> Path:
    """The checkpoint file for `source`: itself when it exists or is not a published name, else the kept copy.

    Raises WeightsDownloadError (naming the URL and where to put the file by hand) when a published name is
    neither on disk nor downloadable, and CheckpointError when the downloaded file is not a valid checkpoint.
    """
    path = Path(source)
    if path.exists() or not is_published(source):
        if is_published(source):
            _notice(path.name)
        return path
    from yoloforge.cfg.user import load_user_settings

    kept = load_user_settings().weights_dir / path.name
    _notice(path.name)
    if kept.is_file():
        if not _is_ours(kept):
            LOGGER.info("Converting %s (an Ultralytics checkpoint) to a yoloforge checkpoint in place", kept)
            _convert(kept, kept, {"url": None, "sha256": _sha256(kept)})
        return kept
    return _download(path.name, kept)


def _is_ours(path: Path) -> bool:
    from yoloforge.nn.checkpoint import FORMAT, load_checkpoint

    return load_checkpoint(path).get("format") == FORMAT


def _sha256(path: Path) -> str:
    from yoloforge.data.download import sha256_of

    return sha256_of(path)


def _download(name: str, kept: Path) -> Path:
    """Fetch, convert and keep `name`; the raw download is deleted once converted."""
    from yoloforge.data.download import DownloadError, fetch

    url = weights_url(name)
    raw = kept.parent / ".downloads" / name
    try:
        fetch(url, raw, attempts=3, backoff=0.5, timeout=30.0)
    except DownloadError as e:
        reason = str(e.__cause__ or e)
        raise WeightsDownloadError(
            f"{name} is not in the working folder or in {kept.parent}, and the download from {url} failed "
            f"({reason}). Offline? Download {url} by hand and put it at {kept} (or in the working folder), "
            f"or set {URL_ENV} to a mirror serving {name}; or train from scratch with model={name[:-3]}.yaml",
            url=url,
            reason=reason,
            path=kept,
        ) from None
    digest = _sha256(raw)
    LOGGER.info("Downloaded %s (sha256 %s)", name, digest)
    try:
        _convert(raw, kept, {"url": url, "sha256": digest})
    except CheckpointError as e:
        raise CheckpointError(f"the file downloaded from {url} is not a usable checkpoint: {e}") from None
    finally:
        raw.unlink(missing_ok=True)
    return kept


def _convert(src: Path, dest: Path, origin: dict[str, Any]) -> Path:
    """Import an Ultralytics checkpoint safely and save it as a yoloforge one (fp16 weights, as published)."""
    from yoloforge.nn.checkpoint import build_checkpoint, load_checkpoint, model_from_checkpoint, save_checkpoint

    ckpt = load_checkpoint(src)
    model = model_from_checkpoint(ckpt)
    source = {**ckpt.get("source", {}), **origin, "name": dest.name, "license": LICENSE}
    converted = build_checkpoint(model, args=dict(ckpt.get("args") or {}), source=source)
    state = converted["model"]["state_dict"]
    converted["model"]["state_dict"] = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_checkpoint(converted, dest)
    LOGGER.info("Kept %s as a yoloforge checkpoint: the next load needs no download or conversion", dest)
    return dest
