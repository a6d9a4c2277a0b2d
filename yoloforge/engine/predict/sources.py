"""Prediction inputs: turn what the user passed into a lazy stream of `Frame`s (name, BGR pixels).

Accepted: an image file, a video file (read frame by frame), an http(s) URL of an image or a video (fetched
with yoloforge's download into a temporary folder that goes away with the source), a folder (searched
recursively for images and videos), a glob pattern, a .txt file listing images, a numpy array (HxWx3 BGR
as OpenCV gives, or HxW gray), a PIL image, or a list mixing any of these. Paths are resolved up front (so
a typo or an unreachable URL fails before any work), but pixels are read one image or frame at a time, so
a source of any size costs the memory of one batch. An unreadable file among many is skipped with a
warning and counted; a single image file that cannot be read is an error.
"""

from __future__ import annotations

import glob
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yoloforge.data.files import IMG_FORMATS, is_image, list_images
from yoloforge.data.images import ImageError, pil_to_bgr, read_image
from yoloforge.engine.predict.video import VID_FORMATS, VideoInfo, is_video, probe, read_frames
from yoloforge.errors import YoloforgeError
from yoloforge.utils.log import LOGGER

ACCEPTED = (
    "an image file ("
    + ", ".join(sorted(IMG_FORMATS))
    + "), a video file ("
    + ", ".join(sorted(VID_FORMATS))
    + "), an http(s) URL of either, a folder, a glob like 'dir/*.jpg', a .txt file listing image paths, "
    "a numpy array (HxWx3 BGR uint8), a PIL image, or a list of these"
)
_GLOB_CHARS = "*?["


class SourceError(YoloforgeError, ValueError):
    """A prediction source that is missing, of an unsupported kind, or holds no readable image."""


@dataclass
class Frame:
    """One picture to predict: where it came from, its BGR pixels, and its place in a video (0 for images)."""

    path: str  # the file, URL or video it came from
    img: np.ndarray
    frame: int = 0  # 1-based frame number in a video; 0 for a still image
    frames: int = 0  # the video's frame count (as its container says)
    fps: float = 0.0


@dataclass
class _InMemory:
    """An image the caller passed as an object (numpy array or PIL image), converted to BGR when read."""

    name: str
    obj: Any


@dataclass
class _Video:
    """A video file, read frame by frame; `name` is what the user gave (a path or a URL)."""

    name: str
    file: str
    info: VideoInfo


@dataclass
class _Remote:
    """An image downloaded from `url` into the source's temporary folder."""

    url: str
    file: str


Item = str | _InMemory | _Video | _Remote


@dataclass
class ImageSource:
    """The resolved items of a source, read lazily in order; `skipped` lists unreadable files met so far."""

    items: list[Item]
    description: str
    strict: bool = False
    skipped: list[str] = field(default_factory=list)
    downloads: Any = None  # the TemporaryDirectory holding fetched URLs; removed with the source

    def __len__(self) -> int:
        """Pictures to predict: one per image, the frame count per video."""
        return sum(it.info.frames if isinstance(it, _Video) else 1 for it in self.items)

    def __iter__(self) -> Iterator[Frame]:
        for item in self.items:
            if isinstance(item, _InMemory):
                yield Frame(item.name, to_bgr(item.obj, item.name))
            elif isinstance(item, _Video):
                for i, img in enumerate(read_frames(item.file), 1):
                    yield Frame(item.name, img, i, item.info.frames, item.info.fps)
            else:
                name, file = (item.url, item.file) if isinstance(item, _Remote) else (item, item)
                img = self._read(name, file)
                if img is not None:
                    yield Frame(name, img)

    def _read(self, name: str, file: str) -> np.ndarray | None:
        try:
            return read_image(file)
        except ImageError as e:
            if self.strict:
                raise
            self.skipped.append(name)
            LOGGER.warning("skipped unreadable image %s (%d skipped so far)", e, len(self.skipped))
            return None

    def batches(self, size: int) -> Iterator[list[Frame]]:
        """Lists of up to `size` frames; only one batch of pixels is held at a time."""
        batch: list[Frame] = []
        for frame in self:
            batch.append(frame)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch


def _is_pil(obj: Any) -> bool:
    """Duck-typed so Pillow stays optional: a PIL image without importing PIL."""
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "convert") and hasattr(obj, "size")


def to_bgr(obj: Any, name: str = "image") -> np.ndarray:
    """A numpy array (BGR, BGRA or gray; uint8) or a PIL image (any mode) -> contiguous HxWx3 uint8 BGR."""
    if _is_pil(obj):
        return pil_to_bgr(obj, name)  # the pixels read_image gives for the same picture in a file
    arr = obj
    ok = arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))
    if not ok or arr.dtype != np.uint8 or min(arr.shape[:2]) == 0:
        raise SourceError(
            f"{name}: a numpy source must be an HxWx3 BGR uint8 image (as cv2.imread gives), got shape "
            f"{arr.shape} dtype {arr.dtype}; convert with (img * 255).astype(np.uint8) or cv2.cvtColor"
        )
    if arr.ndim == 2 or arr.shape[2] == 1:
        return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)
    if arr.shape[2] == 4:
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    return np.ascontiguousarray(arr)


def _glob(pattern: str) -> list[Item]:
    found = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p) and (is_image(p) or is_video(p)))
    if not found:
        raise SourceError(f"source {pattern!r} (a glob) matched no image or video files")
    return [_file_item(os.path.abspath(p)) for p in found]


def _file_item(path: str, name: str | None = None) -> Item:
    """An image path as it is, or a video probed now (so an unreadable video fails before any work)."""
    if is_video(path):
        try:
            return _Video(name or path, path, probe(path))
        except YoloforgeError as e:
            raise SourceError(str(e)) from None
    return path


def _folder_items(path: str) -> list[Item]:
    videos = sorted(os.path.join(r, f) for r, _, fs in os.walk(path, followlinks=True) for f in fs if is_video(f))
    try:
        images: list[str] = list_images(path)
    except YoloforgeError:
        if not videos:
            raise
        images = []
    return sorted([*images, *(_file_item(v) for v in videos)], key=lambda it: it if isinstance(it, str) else it.file)


def _fetch_url(url: str, downloads: tempfile.TemporaryDirectory) -> Item:
    """Download `url` with yoloforge's resumable download; an image or (by its suffix) a video."""
    from yoloforge.data.download import DownloadError, fetch, file_name_for

    name = file_name_for(url)
    dest = Path(downloads.name) / f"{len(os.listdir(downloads.name))}" / name
    try:
        fetch(url, dest, attempts=3, backoff=0.5, timeout=30.0)
    except DownloadError as e:
        raise SourceError(f"source {url!r} could not be downloaded ({e.__cause__ or e})") from None
    return _file_item(str(dest), url) if is_video(name) else _Remote(url, str(dest))


def _paths_of(text: str) -> list[Item]:
    """The items of one path-like source: file, folder, glob or .txt list."""
    path = os.path.expanduser(text)
    if not os.path.exists(path) and any(c in path for c in _GLOB_CHARS):
        return _glob(path)
    if not os.path.exists(path):
        webcam = " (webcams and streams are not supported: record a video file)" if text.isdigit() else ""
        raise SourceError(f"source {text!r} does not exist{webcam}. Accepted: {ACCEPTED}")
    if os.path.isdir(path):
        return _folder_items(path)
    if is_video(path):
        return [_file_item(os.path.abspath(path))]
    if not is_image(path) and not path.lower().endswith(".txt"):
        raise SourceError(f"source {text!r} is neither an image nor a video OpenCV reads. Accepted: {ACCEPTED}")
    return list(list_images(path))


def _items_of(obj: Any, index: int, downloads: Any) -> list[Item]:
    """The items of one source element (a list element, or the whole source)."""
    if isinstance(obj, str) and obj.lower().startswith(("http://", "https://")):
        return [_fetch_url(obj, downloads())]
    if isinstance(obj, str) and "://" in obj:
        raise SourceError(f"source {obj!r}: only http:// and https:// URLs are fetched. Accepted: {ACCEPTED}")
    if isinstance(obj, (str, os.PathLike)):
        return _paths_of(os.fspath(obj))
    if isinstance(obj, np.ndarray):
        to_bgr(obj, f"image{index}")  # validate now, so a bad array fails before any inference
        return [_InMemory(f"image{index}.jpg", obj)]
    if _is_pil(obj):
        name = Path(getattr(obj, "filename", "") or f"image{index}.jpg").name
        return [_InMemory(name, obj)]
    kind = type(obj).__module__ + "." + type(obj).__name__
    hint = " (convert a tensor with .permute(1, 2, 0).numpy() to HxWxC, BGR uint8)" if "torch" in kind else ""
    raise SourceError(f"unsupported source of type {kind}{hint}. Accepted: {ACCEPTED}")


def load_source(source: Any) -> ImageSource:
    """Resolve a source into an ImageSource; raises SourceError naming the source and what is accepted."""
    if source is None:
        raise SourceError(f"no source given: pass source=path/to/images. Accepted: {ACCEPTED}")
    elements = list(source) if isinstance(source, (list, tuple)) else [source]
    if not elements:
        raise SourceError(f"the source is an empty list. Accepted: {ACCEPTED}")
    src = ImageSource([], description="")
    holder: list[tempfile.TemporaryDirectory] = []

    def downloads() -> tempfile.TemporaryDirectory:
        if not holder:
            holder.append(tempfile.TemporaryDirectory(prefix="yoloforge-source-"))
            src.downloads = holder[0]
        return holder[0]

    for i, element in enumerate(elements):
        src.items.extend(_items_of(element, i, downloads))
    one_file = isinstance(source, (str, os.PathLike)) and (os.path.isfile(source) or isinstance(src.items[0], _Remote))
    src.strict = one_file and len(src.items) == 1 and not os.fspath(source).lower().endswith(".txt")
    src.description = str(source if isinstance(source, (str, os.PathLike)) else f"{len(elements)} input(s)")
    return src
