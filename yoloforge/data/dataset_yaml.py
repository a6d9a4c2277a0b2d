"""Read a dataset YAML into absolute, checked folders, downloading the dataset when it is missing.

    path: coco8            # the root; relative to this YAML's folder, else to the datasets folder
    train: images/train    # a folder, a list of folders, or a .txt of image paths; relative to path
    val: images/val
    test:                  # optional
    names: {0: person, 1: bicycle}   # or a list; `nc` is optional and must agree
    download: https://...  # optional, see yoloforge.data.download

Every problem raises DatasetError naming the YAML file, the key and the absolute path tried.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from yoloforge.cfg.user import load_user_settings
from yoloforge.data.download import DownloadItem, download_dataset, parse_download_spec
from yoloforge.data.files import DatasetError, find_label_files, list_images
from yoloforge.utils.log import LOGGER

__all__ = [
    "PACKAGED_DIR",
    "SINGLE_CLASS_NAME",
    "DatasetError",
    "DatasetInfo",
    "dataset_names",
    "describe",
    "find_dataset_yaml",
    "load_dataset_yaml",
    "run_class_names",
]

PACKAGED_DIR = Path(__file__).resolve().parents[1] / "cfg" / "datasets"
SPLITS = ("train", "val", "test")
# dataset URIs resolved by other parts of yoloforge, imported only when used: scheme -> module:function
URI_RESOLVERS = {"yf": "yoloforge.remote.datasets:resolve", "ul": "yoloforge.remote.datasets:resolve"}
SINGLE_CLASS_NAME = "item"  # the one class of a single_cls run (Ultralytics' word, so names match across tools)


def run_class_names(names: dict[int, str], single_cls: bool) -> dict[int, str]:
    """The classes a run trains and reports: the dataset's `names`, or with `single_cls` one class, 'item'.

    single_cls merges every class of the labels into class 0 (labels.load_labels); the model then has one
    output class, and its name must not be class 0's (calling every car and dog 'person').
    """
    return {0: SINGLE_CLASS_NAME} if single_cls else dict(names)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset YAML, resolved: every split is a list of absolute sources that exist."""

    yaml_file: str
    path: str
    train: list[str]
    val: list[str]
    test: list[str]
    names: dict[int, str]
    nc: int
    download: Any = None

    @property
    def ref(self) -> str:
        """How a run records this dataset (`data=` in args.yaml and checkpoints): the absolute path of the YAML,
        so resuming works from any working directory, or the bare name of a packaged one (`coco8.yaml`), which
        stays valid when yoloforge is installed elsewhere."""
        yaml_file = Path(self.yaml_file)
        return yaml_file.name if yaml_file.parent == PACKAGED_DIR else str(yaml_file)


def _resolve_uri(data: str | os.PathLike[str]) -> Path | None:
    """The local YAML of a dataset URI such as yf://owner/datasets/name (None when `data` is not one)."""
    import importlib

    scheme, sep, _ = os.fspath(data).partition("://")
    if not sep or scheme not in URI_RESOLVERS:
        return None
    module, _, func = URI_RESOLVERS[scheme].partition(":")
    return Path(getattr(importlib.import_module(module), func)(os.fspath(data)))


def find_dataset_yaml(data: str | os.PathLike[str]) -> Path:
    """The YAML file for `data`: a dataset URI (yf://...), an existing path, or a packaged name (`coco8.yaml`)."""
    uri_yaml = _resolve_uri(data)
    if uri_yaml is not None:
        return uri_yaml
    p = Path(data).expanduser()
    if p.is_file():
        return Path(os.path.abspath(p))
    if p.is_dir():
        raise DatasetError(f"{os.path.abspath(p)} is a folder: pass the dataset's YAML file instead")
    if len(p.parts) == 1:
        for name in (p.name,) if p.suffix else (p.name + ".yaml", p.name):
            if (PACKAGED_DIR / name).is_file():
                return PACKAGED_DIR / name
    packaged = ", ".join(sorted(f.name for f in PACKAGED_DIR.glob("*.yaml")))
    raise DatasetError(
        f"dataset YAML {os.fspath(data)!r} not found: no file at {os.path.abspath(p)} and no packaged "
        f"dataset of that name (packaged: {packaged})"
    )


def dataset_names(data: str | os.PathLike[str]) -> dict[int, str]:
    """The class names a dataset YAML declares, read without resolving or downloading its folders."""
    yaml_file = find_dataset_yaml(data)
    return _parse_names(_read_yaml(yaml_file), yaml_file)


def _read_yaml(yaml_file: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(yaml_file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise DatasetError(f"{yaml_file} is not UTF-8 text: is it really a dataset YAML? ({e})") from e
    except yaml.YAMLError as e:
        raise DatasetError(f"{yaml_file} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise DatasetError(
            f"{yaml_file} must be a YAML mapping with keys path, train, val and names; it holds a {type(raw).__name__}"
        )
    return raw


def _class_id(key: Any, yaml_file: Path) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.strip().isdigit():
        return int(key)
    raise DatasetError(f"{yaml_file}: 'names' key {key!r} is not a class id (0, 1, 2, ...)")


def _parse_names(raw: dict[str, Any], yaml_file: Path) -> dict[int, str]:
    """`names` as {id: name} with ids 0..n-1, checked against `nc` when given."""
    names, nc = raw.get("names"), raw.get("nc")
    if names is None:
        raise DatasetError(f"{yaml_file}: missing key 'names' (a list of class names, or a mapping id: name)")
    if isinstance(names, list):
        pairs = list(enumerate(names))
    elif isinstance(names, dict):
        pairs = [(_class_id(k, yaml_file), v) for k, v in names.items()]
    else:
        raise DatasetError(f"{yaml_file}: 'names' must be a list or a mapping id: name, got {names!r}")
    out: dict[int, str] = {}
    for i, name in pairs:
        if isinstance(name, bool) or name is None or isinstance(name, (list, dict)) or i in out:
            why = "is repeated" if i in out else f"is {name!r}; quote it (YAML reads yes/no/on/off as booleans)"
            raise DatasetError(f"{yaml_file}: 'names' entry for class {i} {why}")
        out[i] = str(name)
    gaps = sorted(set(range(len(out))) - set(out))
    if not out or gaps:
        raise DatasetError(f"{yaml_file}: 'names' must give ids 0..{len(out) - 1} without gaps; missing {gaps}")
    if nc is not None and (not isinstance(nc, int) or isinstance(nc, bool) or nc != len(out)):
        raise DatasetError(f"{yaml_file}: 'nc' is {nc!r} but 'names' has {len(out)} classes; fix one or drop 'nc'")
    return dict(sorted(out.items()))


_PLACES = ("beside the YAML", "in the datasets folder", "in the working directory")


class _Lookup(NamedTuple):
    """A relative `path` value and the places it was looked for, each with the words naming the place."""

    value: str
    places: list[tuple[Path, str]]


def _root_candidates(rel: Path, yaml_file: Path, datasets_dir: Path) -> list[tuple[Path, str]]:
    """Where a relative `path` is looked for, in order, each with the words naming the place."""
    out: list[tuple[Path, str]] = []
    for base, place in zip((yaml_file.parent, datasets_dir.absolute(), Path.cwd()), _PLACES, strict=True):
        candidate = Path(os.path.normpath(base / rel))
        if candidate not in [c for c, _ in out]:
            out.append((candidate, place))
    return out


def _resolve_root(raw: dict[str, Any], yaml_file: Path, datasets_dir: Path) -> tuple[Path, _Lookup | None]:
    """`path`, absolute, and the places a relative one was looked for (none for an absolute or absent one).

    A relative `path` is looked for beside the YAML, then in the datasets folder, then (Ultralytics users'
    habit) in the working directory, with a warning: that only works from this folder. When none exists the
    datasets folder is returned: a download goes there.
    """
    value = raw.get("path")
    if value is None or value == "":
        return yaml_file.parent, None
    if not isinstance(value, str):
        raise DatasetError(f"{yaml_file}: 'path' must be a folder name, got {value!r}")
    p = Path(value).expanduser()
    if p.is_absolute():
        return Path(os.path.normpath(p)), None
    tried = _Lookup(value, _root_candidates(p, yaml_file, datasets_dir))
    for candidate, place in tried.places:
        if candidate.exists():
            if place == _PLACES[2]:
                LOGGER.warning("%s: 'path: %s' found %s (%s), not %s; this works only from this folder: write "
                               "'path: %s' or a path relative to the YAML", yaml_file, value, place, candidate,
                               " or ".join(_PLACES[:2]), candidate)  # fmt: skip
            return candidate, tried
    return Path(os.path.normpath(datasets_dir.absolute() / p)), tried


def _resolve_split(raw: dict[str, Any], key: str, root: Path, yaml_file: Path) -> list[str]:
    """A split's sources as absolute paths (existence is checked by the caller)."""
    value = raw.get(key)
    if value is None or value == [] or value == "":
        if key == "test":
            return []
        raise DatasetError(f"{yaml_file}: missing key '{key}' (a folder, a list of folders or a .txt of images)")
    entries = value if isinstance(value, list) else [value]
    if not all(isinstance(e, str) and e for e in entries):
        raise DatasetError(f"{yaml_file}: '{key}' must be a folder, a list of folders or a .txt, got {value!r}")
    return [os.path.normpath(root / os.path.expanduser(e)) for e in entries]


def _resolve(
    raw: dict[str, Any], yaml_file: Path, datasets_dir: Path
) -> tuple[Path, dict[str, list[str]], _Lookup | None]:
    root, tried = _resolve_root(raw, yaml_file, datasets_dir)
    return root, {key: _resolve_split(raw, key, root, yaml_file) for key in SPLITS}, tried


def _first_missing(splits: dict[str, list[str]]) -> tuple[str, str] | None:
    for key, sources in splits.items():
        for src in sources:
            if not os.path.exists(src):
                return key, src
    return None


def _converter(raw: dict[str, Any], yaml_file: Path, names: dict[int, str], rel_root: Path | None) -> Any:
    """The `convert:` step run on a fresh download before it moves into place (only `voc` today)."""
    kind = raw.get("convert")
    if kind is None:
        return None
    if kind != "voc":
        raise DatasetError(f"{yaml_file}: unknown 'convert' value {kind!r}; the known one is 'voc'")
    if rel_root is None:
        raise DatasetError(f"{yaml_file}: 'convert' needs a relative 'path' (a folder in the datasets folder)")
    from yoloforge.data.convert_voc import convert_voc

    return lambda tree: convert_voc(tree / rel_root, list(names.values()))


def _fetch(
    raw: dict[str, Any], yaml_file: Path, items: list[DownloadItem], names: dict[int, str], datasets_dir: Path
) -> None:
    datasets_dir = datasets_dir.absolute()
    value = raw.get("path")
    rel_root = Path(value) if isinstance(value, str) and value and not Path(value).is_absolute() else None
    prepare = _converter(raw, yaml_file, names, rel_root)
    LOGGER.info("Dataset %s is missing: downloading it into %s", yaml_file.name, datasets_dir)
    download_dataset(items, datasets_dir, prepare=prepare)


def _missing_error(
    yaml_file: Path,
    key: str,
    path: str,
    root: Path,
    items: Any,
    download: bool,
    datasets_dir: Path,
    tried: _Lookup | None,
) -> DatasetError:
    if tried and not root.exists() and not items:
        places = "; ".join(f"{place}: {c}" for c, place in tried.places)
        return DatasetError(
            f"{yaml_file}: 'path: {tried.value}' was not found in any of the {len(tried.places)} places a relative "
            f"path is looked for ({places}); make it absolute, or relative to the YAML's folder"
        )
    if items and download:
        hint = (
            f"; the download finished but did not create it: check that 'path' (resolved to {root}) and "
            f"'{key}' match the archive's layout in {datasets_dir}"
        )
    elif items:
        hint = "; it is not downloaded yet: load it with download=True to fetch it"
    else:
        hint = f"; check 'path' (resolved to {root}) and '{key}' in the YAML, or add a 'download' URL"
    return DatasetError(f"{yaml_file}: '{key}' source {path} does not exist{hint}")


def load_dataset_yaml(data: str | os.PathLike[str], *, download: bool = True) -> DatasetInfo:
    """Resolve a dataset YAML (a path or a packaged name) into a DatasetInfo of absolute sources.

    When a split is missing and the YAML has `download`, the dataset is fetched into the datasets
    folder (YOLOFORGE_DATASETS_DIR) first, unless `download` is False.
    """
    yaml_file = find_dataset_yaml(data)
    raw = _read_yaml(yaml_file)
    names = _parse_names(raw, yaml_file)
    spec = raw.get("download")
    items = parse_download_spec(spec, where=f"{yaml_file}: download") if spec else None
    _converter(raw, yaml_file, names, Path("."))  # validate `convert` early, even when not needed
    datasets_dir = load_user_settings().datasets_dir
    root, splits, tried = _resolve(raw, yaml_file, datasets_dir)
    missing = _first_missing(splits)
    if missing and items and download:
        _fetch(raw, yaml_file, items, names, datasets_dir)
        root, splits, tried = _resolve(raw, yaml_file, datasets_dir)
        missing = _first_missing(splits)
    if missing:
        raise _missing_error(yaml_file, *missing, root, items, download, datasets_dir, tried)
    return DatasetInfo(
        yaml_file=str(yaml_file),
        path=str(root),
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        names=names,
        nc=len(names),
        download=spec,
    )


def describe(info: DatasetInfo) -> str:
    """A few lines for the log before training: the folders used and how many images and labels each has."""
    shown = ", ".join(list(info.names.values())[:5]) + (", ..." if info.nc > 5 else "")
    lines = [f"Dataset {info.yaml_file}", f"  root     {info.path}", f"  classes  {info.nc} ({shown})"]
    for split in SPLITS:
        sources: list[str] = getattr(info, split)
        if not sources:
            lines.append(f"  {split:<8} none")
            continue
        images = list_images(sources)
        labels = find_label_files(images).found
        background = f", {len(images) - labels} without a label file" if labels < len(images) else ""
        lines.append(f"  {split:<8} {len(images)} images, {labels} label files{background}")
        lines.extend(f"           {src}" for src in sources)
    return "\n".join(lines)
