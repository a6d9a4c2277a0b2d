"""The validation report of a dataset version, made by the library's own label verification.

Each split is verified by `yoloforge.data.labels.load_labels` exactly as training would (corrupt images
and untrustworthy label files dropped, harmless defects fixed), and every defect message becomes an
entry naming its file (relative to the archive) and line. Images shared by two splits (coco128 uses
its train images for val) count once in the totals.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from yoloforge.platform.services.dataset_layout import SPLITS, Layout

_MESSAGE = re.compile(r"^(?P<file>.+?)(?::(?P<line>\d+))?: (?P<message>.*)$")


def _defect(message: str, tree: Path, split: str) -> dict[str, Any]:
    """{'split', 'file', 'line', 'message'} from a library message '/abs/file[:line]: what, action'."""
    text = message.replace(str(tree) + "/", "")
    m = _MESSAGE.match(text)
    if m is None:
        return {"split": split, "file": None, "line": None, "message": text}
    line = m.group("line")
    return {"split": split, "file": m.group("file"), "line": int(line) if line else None, "message": m.group("message")}


def _verify(files: list[str], nc: int, split: str, workers: int) -> tuple[dict[str, list[int]], Any]:
    """({image: class ids} of the kept images, the library's LabelReport) for one split's files."""
    from yoloforge.data.labels import load_labels

    # cache=False: no cache file in the scratch tree; max_drop=1.0: a broken dataset gets a report, not an error
    labels, report = load_labels(files, nc, workers=workers, cache=False, max_drop=1.0, prefix=split)
    return {lb.im_file: [int(c) for c in lb.cls] for lb in labels}, report


def _summary(report: Any, split: str) -> dict[str, Any]:
    return {
        "images": report.images,
        "backgrounds": report.backgrounds,
        "instances": report.instances,
        "skipped": report.skipped,
        "fixed": report.fixed,
        "summary": replace(report, prefix=split).summary(),
    }


def split_files(tree: Path, layout: Layout) -> dict[str, list[str]]:
    """The image files of each split that has sources."""
    from yoloforge.data.files import list_images

    root = tree / layout.root
    return {s: list_images([str(root / x) for x in layout.splits[s]]) for s in SPLITS if layout.splits.get(s)}


def build_report(tree: Path, layout: Layout, workers: int = 1) -> dict[str, Any]:
    """The report: totals, per-class counts, per-split summaries, every defect with its file, and notes.

    `workers` > 1 lets the library verify in a process pool: only from a process without threads
    (see verifier.py). Splits of the same images (coco128's val is its train) are verified once.
    """
    splits: dict[str, Any] = {}
    images: dict[str, list[int]] = {}
    defects: list[dict[str, Any]] = []
    done: dict[tuple[str, ...], tuple[dict[str, list[int]], Any]] = {}
    for split, files in split_files(tree, layout).items():
        if tuple(files) in done:  # the same images as an earlier split: same outcome, defects already listed
            splits[split] = _summary(done[tuple(files)][1], split)
            continue
        kept, report = done[tuple(files)] = _verify(files, len(layout.names), split, workers)
        splits[split] = _summary(report, split)
        images.update(kept)
        defects += [_defect(m, tree, split) for m in report.messages]
    per_class = Counter(c for ids in images.values() for c in ids)
    with_class = Counter(c for ids in images.values() for c in set(ids))
    classes = [
        {"id": i, "name": name, "instances": per_class.get(i, 0), "images": with_class.get(i, 0)}
        for i, name in enumerate(layout.names)
    ]
    return {
        "images": len(images),
        "backgrounds": sum(not ids for ids in images.values()),
        "instances": sum(len(ids) for ids in images.values()),
        "classes": classes,
        "splits": splits,
        "defects": defects,
        "notes": layout.notes,
    }
