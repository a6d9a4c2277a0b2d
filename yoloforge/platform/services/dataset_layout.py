"""Where the splits and class names are inside an unpacked dataset archive.

Two layouts are accepted:
- a dataset YAML (the shallowest `*.yaml`/`*.yml`): its `train`/`val`/`test` and `names`. Its `path`
  is used when it names a folder inside the archive; otherwise (`../datasets/coco128` written for
  someone's disk) the YAML's own folder is the root, and the report says so.
- no YAML: an `images/` folder with `labels/` beside it, split into `images/train`, `images/val`
  (and `images/test`) or a single `images/` used for both train and val; class names come from the
  upload form.

Either way the library resolves and checks the result (`load_dataset_yaml`), so the server accepts
exactly what `yoloforge train` accepts. The layout is stored with paths relative to the archive, and
the library's `yf://` client writes its own YAML from it after downloading.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from yoloforge.platform.services.errors import Invalid

SPLITS = ("train", "val", "test")
_SKIP = ("__MACOSX",)


@dataclass
class Layout:
    """Splits relative to the archive's top, class names by id, and notes for the report."""

    yaml: str | None
    root: str
    splits: dict[str, list[str]]
    names: list[str]
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"yaml": self.yaml, "root": self.root, **self.splits, "names": self.names}


def _rel(path: str | Path, tree: Path) -> str:
    return Path(os.path.relpath(path, tree)).as_posix()


def _inside(path: str | Path, tree: Path) -> bool:
    return os.path.commonpath([os.path.realpath(path), os.path.realpath(tree)]) == os.path.realpath(tree)


def _find_yaml(tree: Path) -> Path | None:
    found = [
        p
        for p in tree.rglob("*")
        if p.suffix.lower() in (".yaml", ".yml") and p.is_file() and not any(s in p.parts for s in _SKIP)
    ]
    if not found:
        return None
    depth = min(len(p.relative_to(tree).parts) for p in found)
    top = sorted(p for p in found if len(p.relative_to(tree).parts) == depth)
    if len(top) > 1:
        listed = ", ".join(_rel(p, tree) for p in top)
        raise Invalid(f"the archive holds several dataset YAML files ({listed}): keep one", field="file")
    return top[0]


def _yaml_raw(yaml_file: Path, tree: Path, notes: list[str]) -> dict[str, Any]:
    """The archive's YAML with `path` pointed at a folder inside the archive."""
    where = _rel(yaml_file, tree)
    try:
        raw = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise Invalid(f"{where} is not valid YAML: {str(e).splitlines()[0]}", field="file") from e
    if not isinstance(raw, dict):
        raise Invalid(f"{where} must be a mapping with train, val and names", field="file")
    value = raw.get("path")
    root = yaml_file.parent
    if value:
        candidate = yaml_file.parent / str(value)
        if isinstance(value, str) and not Path(value).is_absolute() and candidate.is_dir() and _inside(candidate, tree):
            root = candidate
        else:
            notes.append(f"{where}: 'path: {value}' is not a folder in the archive; splits are read from its folder")
    raw.pop("download", None)  # the archive is the data: never fetch anything on the server
    return {**raw, "path": str(root)}


def _folders_raw(tree: Path, names: list[str] | None, notes: list[str]) -> dict[str, Any]:
    """A YAML mapping for an `images/` + `labels/` archive without a YAML."""
    if not names:
        raise Invalid(
            "the archive has no dataset YAML: add one, or give the class names in the form field 'names' "
            "(comma-separated, in class-id order)",
            field="names",
        )
    candidates = sorted(
        (p for p in tree.rglob("images") if p.is_dir() and not any(s in p.parts for s in _SKIP)),
        key=lambda p: len(p.parts),
    )
    if not candidates:
        raise Invalid("the archive has neither a dataset YAML nor an images/ folder", field="file")
    images = candidates[0]
    if not (images.parent / "labels").is_dir():
        raise Invalid(f"{_rel(images, tree)}/ has no labels/ folder beside it", field="file")
    raw: dict[str, Any] = {"path": str(images.parent), "names": names}
    if (images / "train").is_dir() and (images / "val").is_dir():
        raw.update(train="images/train", val="images/val")
        if (images / "test").is_dir():
            raw["test"] = "images/test"
    else:
        raw.update(train="images", val="images")
        notes.append(f"{_rel(images, tree)}/ has no train/ and val/ sub-folders: its images serve as both splits")
    return raw


def find_layout(tree: Path, scratch: Path, names: list[str] | None) -> Layout:
    """Resolve the archive unpacked at `tree` into a Layout, checked by the library; Invalid names the problem.

    `scratch` is a folder outside `tree` for the normalised YAML handed to the library.
    """
    from yoloforge.data.dataset_yaml import load_dataset_yaml
    from yoloforge.data.files import DatasetError

    notes: list[str] = []
    yaml_file = _find_yaml(tree)
    raw = _yaml_raw(yaml_file, tree, notes) if yaml_file else _folders_raw(tree, names, notes)
    if yaml_file and names:
        notes.append("the form's 'names' were ignored: the archive's YAML gives the class names")
    shown = _rel(yaml_file, tree) if yaml_file else "the archive"
    normalised = scratch / (yaml_file.name if yaml_file else "dataset.yaml")
    normalised.write_text(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        info = load_dataset_yaml(normalised, download=False)
    except DatasetError as e:
        message = str(e).replace(str(normalised), shown).replace(str(tree) + os.sep, "")
        raise Invalid(message, field="file") from e
    splits = {s: getattr(info, s) for s in SPLITS}
    for split, sources in splits.items():
        for src in sources:
            if not _inside(src, tree):
                raise Invalid(f"{shown}: '{split}' points outside the archive ({src})", field="file")
    return Layout(
        yaml=_rel(yaml_file, tree) if yaml_file else None,
        root=_rel(info.path, tree),
        splits={s: [_rel(src, info.path) for src in sources] for s, sources in splits.items()},
        names=[info.names[i] for i in range(info.nc)],
        notes=notes,
    )
