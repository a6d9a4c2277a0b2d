"""Dataset archives for tests, built from real data (coco128 from ../shared, the packaged coco8)."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path


def zip_tree(src: Path, dest: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> Path:
    """Zip every file under `src` as `prefix/<relative path>`, plus `extra` {name: bytes}; returns `dest`."""
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for folder, dirs, files in os.walk(src):
            dirs.sort()
            for name in sorted(files):
                if name.endswith(".cache"):
                    continue
                path = Path(folder) / name
                rel = path.relative_to(src).as_posix()
                zf.write(path, f"{prefix}/{rel}" if prefix else rel)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return dest


def coco128_yaml(path_value: str = "coco128") -> bytes:
    """A dataset YAML for coco128 with its 80 COCO names, read from the packaged coco128.yaml."""
    import yaml

    from yoloforge.data.dataset_yaml import PACKAGED_DIR

    raw = yaml.safe_load((PACKAGED_DIR / "coco128.yaml").read_text())
    data = {"path": path_value, "train": "images/train2017", "val": "images/train2017", "names": raw["names"]}
    return yaml.safe_dump(data, sort_keys=False).encode()


def label_counts(root: Path) -> tuple[int, dict[int, int]]:
    """(instances, {class id: instances}) counted straight from the YOLO label text files of `root`'s
    images (images/X/a.jpg -> labels/X/a.txt; label files without an image do not count)."""
    per_class: dict[int, int] = {}
    for image in (root / "images").rglob("*.jpg"):
        txt = root / "labels" / image.parent.relative_to(root / "images") / (image.stem + ".txt")
        if not txt.exists():
            continue
        for line in txt.read_text().splitlines():
            if line.split():
                c = int(line.split()[0])
                per_class[c] = per_class.get(c, 0) + 1
    return sum(per_class.values()), per_class
