"""Which files make up a split: the images of a source, and the label file paired with each image.

A source is a folder (searched recursively), a `.txt` file listing image paths, one image file, or a
list of these. Labels follow the YOLO sibling convention: `.../images/x/a.jpg` -> `.../labels/x/a.txt`;
an image whose sibling label file does not exist uses a label file beside it (`.../images/x/a.txt`)
when there is one (`find_label_files`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from yoloforge.errors import YoloforgeError

IMG_FORMATS = frozenset({"jpg", "jpeg", "png", "bmp", "tif", "tiff", "webp"})

# Junk that archives made on macOS carry along: resource forks named like images but not images.
_SKIP_DIRS = frozenset({"__MACOSX"})


class DatasetError(YoloforgeError, ValueError):
    """A dataset description or its files are wrong; the message names the file, key or path to fix."""


def is_image(path: str | os.PathLike[str]) -> bool:
    """True when the name ends in one of IMG_FORMATS (any case)."""
    name = os.fspath(path)
    return os.path.splitext(name)[1][1:].lower() in IMG_FORMATS and not os.path.basename(name).startswith("._")


def _walk_images(folder: str) -> list[str]:
    """Images under `folder`, recursively and sorted; symlinked folders are followed once each."""
    found: list[str] = []
    seen: set[str] = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symlink loop, or two links to one folder
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        found.extend(os.path.join(root, f) for f in files if is_image(f))
    return sorted(found)


def _read_list_file(txt: str) -> list[str]:
    """Image paths listed in a .txt file; relative lines are relative to the file's own folder."""
    base = os.path.dirname(txt)
    try:
        lines = Path(txt).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise DatasetError(f"{txt}: not a UTF-8 text list of image paths ({e})") from e
    paths = []
    for line in lines:
        line = line.strip()
        if line and not line.startswith("#"):
            paths.append(os.path.normpath(os.path.join(base, os.path.expanduser(line))))
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DatasetError(
            f"{txt} lists {len(missing)} image(s) that do not exist: {shown}. "
            "Relative lines are read relative to the folder of the .txt file."
        )
    return [p for p in paths if is_image(p)]


def _images_of(source: str | os.PathLike[str]) -> list[str]:
    path = os.path.abspath(os.path.expanduser(os.fspath(source)))
    if os.path.isdir(path):
        return _walk_images(path)
    if os.path.isfile(path) and path.lower().endswith(".txt"):
        return _read_list_file(path)
    if os.path.isfile(path) and is_image(path):
        return [path]
    if os.path.exists(path):
        raise DatasetError(
            f"image source {path} is neither a folder, a .txt list of images, nor an image "
            f"({', '.join(sorted(IMG_FORMATS))})"
        )
    raise DatasetError(f"image source {path} does not exist")


def list_images(source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]]) -> list[str]:
    """All images of a source as absolute paths: a folder (recursive, sorted), a .txt list, or a list.

    The order is stable (each folder sorted, .txt lines as written, list items in turn), so a split
    always yields the same sequence. Raises DatasetError naming the source when it holds no image.
    """
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    if not sources:
        raise DatasetError("no image source given (an empty list)")
    images: list[str] = []
    for src in sources:
        found = _images_of(src)
        if not found:
            raise DatasetError(
                f"no images found in {os.path.abspath(os.fspath(src))} "
                f"(looked for {', '.join(sorted(IMG_FORMATS))}, any case)"
            )
        images.extend(found)
    return images


def label_path_for(img_path: str | os.PathLike[str]) -> str:
    """The sibling label file of an image: the last `images` folder becomes `labels`, the extension `.txt`.

    An image with no `images` folder in its path gets a label file beside it (`a.jpg` -> `a.txt`). This is
    the first place `find_label_files` looks; the second is beside the image.
    """
    p = PurePath(os.fspath(img_path))
    parts = list(p.parent.parts)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return str(PurePath(*parts, p.stem + ".txt")) if parts else p.stem + ".txt"


def label_paths_for(img_paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """label_path_for over a list of images."""
    return [label_path_for(p) for p in img_paths]


def beside_path_for(img_path: str | os.PathLike[str]) -> str:
    """The label file beside an image, in its own folder: `d/a.jpg` -> `d/a.txt`."""
    return os.path.splitext(os.fspath(img_path))[0] + ".txt"


@dataclass(frozen=True)
class LabelLookup:
    """Where the label file of each image of a split was found (see `find_label_files`).

    `paths[i]` is the label file of image i: the sibling path when it exists, else the file beside the
    image when that exists, else the sibling path (which does not exist: the image is a background).
    """

    images: list[str]
    paths: list[str]
    exists: list[bool]  # whether paths[i] exists (an empty file counts: it marks a background)
    beside: list[str] = field(default_factory=list)  # label files used from beside their image
    ignored: list[str] = field(default_factory=list)  # .txt beside an image, ignored: its sibling file wins

    @property
    def found(self) -> int:
        """Images with a label file."""
        return sum(self.exists)

    def looked_at(self, i: int) -> list[str]:
        """The places searched for image i's label file, in order."""
        sibling, beside = label_path_for(self.images[i]), beside_path_for(self.images[i])
        return [sibling] if sibling == beside else [sibling, beside]


def find_label_files(im_files: Sequence[str | os.PathLike[str]]) -> LabelLookup:
    """Find each image's label file: at the sibling path first (`images/` -> `labels/`), then beside the image.

    A `.txt` beside an image is used only when the sibling file does not exist; when both exist the sibling
    wins and the one beside is listed in `ignored`. Costs one or two `stat` calls per image.
    """
    images = [os.fspath(f) for f in im_files]
    paths, exists, beside, ignored = [], [], [], []
    for im in images:
        sibling, near = label_path_for(im), beside_path_for(im)
        has_sibling = os.path.isfile(sibling)
        has_near = near != sibling and os.path.isfile(near)
        if has_sibling and has_near:
            ignored.append(near)
        elif has_near:
            beside.append(near)
        paths.append(near if has_near and not has_sibling else sibling)
        exists.append(has_sibling or has_near)
    return LabelLookup(images, paths, exists, beside, ignored)
