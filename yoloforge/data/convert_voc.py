"""Turn an extracted PASCAL VOC devkit into YOLO folders: images/<split><year>/, labels/<split><year>/.

Run by `convert: voc` in a dataset YAML on the freshly downloaded tree, before it moves into place.
Each VOCdevkit/VOC<year>/ImageSets/Main/<split>.txt lists the images of a split; each
Annotations/<id>.xml gives the image size and the objects' pixel boxes (1-based, inclusive).
Objects marked difficult are left out, as is usual for training.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

from yoloforge.data.files import DatasetError

SETS = (("2012", "train"), ("2012", "val"), ("2007", "train"), ("2007", "val"), ("2007", "test"))


def _number(node: ET.Element, tag: str, xml_file: Path) -> float:
    text = node.findtext(tag)
    try:
        return float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise DatasetError(f"{xml_file}: <{tag}> is {text!r}, not a number") from None


def voc_to_yolo_rows(xml_file: Path, class_ids: dict[str, int]) -> list[str]:
    """YOLO label rows (`class cx cy w h`, normalised) for one VOC annotation file."""
    try:
        root = ET.parse(xml_file).getroot()
    except (ET.ParseError, OSError) as e:
        raise DatasetError(f"{xml_file}: cannot read the VOC annotation ({e})") from e
    size = root.find("size")
    if size is None:
        raise DatasetError(f"{xml_file}: no <size> element")
    w, h = _number(size, "width", xml_file), _number(size, "height", xml_file)
    if w <= 0 or h <= 0:
        raise DatasetError(f"{xml_file}: image size {w}x{h} is not positive")
    rows = []
    for obj in root.iter("object"):
        name = (obj.findtext("name") or "").strip()
        if name not in class_ids:
            raise DatasetError(f"{xml_file}: class {name!r} is not in the YAML's names")
        box = obj.find("bndbox")
        if (obj.findtext("difficult") or "0").strip() == "1" or box is None:
            continue
        x1, y1, x2, y2 = (_number(box, k, xml_file) for k in ("xmin", "ymin", "xmax", "ymax"))
        cx, cy = ((x1 + x2) / 2 - 1) / w, ((y1 + y2) / 2 - 1) / h  # 1-based pixels -> 0-based
        bw, bh = (x2 - x1) / w, (y2 - y1) / h
        vals = [min(max(v, 0.0), 1.0) for v in (cx, cy, bw, bh)]
        rows.append(f"{class_ids[name]} " + " ".join(f"{v:.6f}" for v in vals) + "\n")
    return rows


def _convert_split(voc: Path, root: Path, year: str, split: str, class_ids: dict[str, int]) -> None:
    ids = (voc / "ImageSets" / "Main" / f"{split}.txt").read_text(encoding="utf-8").split()
    images, labels = root / "images" / f"{split}{year}", root / "labels" / f"{split}{year}"
    images.mkdir(parents=True, exist_ok=True)
    labels.mkdir(parents=True, exist_ok=True)
    for stem in ids:
        rows = voc_to_yolo_rows(voc / "Annotations" / f"{stem}.xml", class_ids)
        (labels / f"{stem}.txt").write_text("".join(rows), encoding="utf-8")
        src = voc / "JPEGImages" / f"{stem}.jpg"
        if not src.is_file():
            raise DatasetError(f"{voc / 'ImageSets' / 'Main' / f'{split}.txt'} lists {stem}, but {src} is missing")
        os.replace(src, images / src.name)


def convert_voc(root: str | os.PathLike[str], names: list[str]) -> None:
    """Convert `root/VOCdevkit` into `root/images/...` and `root/labels/...`, then remove VOCdevkit."""
    root = Path(root)
    devkit = root / "VOCdevkit"
    if not devkit.is_dir():
        raise DatasetError(f"convert: voc expected a VOCdevkit folder in {root}; the archives do not hold one")
    class_ids = {name: i for i, name in enumerate(names)}
    done = []
    for year, split in SETS:
        voc = devkit / f"VOC{year}"
        if (voc / "ImageSets" / "Main" / f"{split}.txt").is_file():
            _convert_split(voc, root, year, split, class_ids)
            done.append(f"{split}{year}")
    if not done:
        raise DatasetError(f"convert: voc found no ImageSets/Main/<split>.txt under {devkit}")
    shutil.rmtree(devkit)
