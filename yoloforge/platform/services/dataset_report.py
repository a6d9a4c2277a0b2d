"""The validation report of a dataset version, made by the library's own label verification.

Each split is verified by `yoloforge.data.labels.load_labels` exactly as training would (corrupt images
and untrustworthy label files dropped, harmless defects fixed), and every defect message becomes an
entry naming its file (relative to the archive) and line. Images shared by two splits (coco128 uses
its train images for val) count once in the totals.
"""

from __future__ import annotations

import re
from collections import Counter
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


def _split_report(tree: Path, root: Path, sources: list[str], names: list[str], split: str) -> tuple[dict, dict, list]:
    """(summary of the split, {image: class ids} of its kept images, defects)."""
    from yoloforge.data.files import list_images
    from yoloforge.data.labels import load_labels

    files = list_images([str(root / s) for s in sources])
    # workers=1: this runs in a server thread, where forking a process pool is unsafe; cache=False: no
    # cache file written into the scratch tree; max_drop=1.0: a broken dataset gets a report, not an error
    labels, report = load_labels(files, len(names), workers=1, cache=False, max_drop=1.0, prefix=split)
    summary = {
        "images": report.images,
        "backgrounds": report.backgrounds,
        "instances": report.instances,
        "skipped": report.skipped,
        "fixed": report.fixed,
        "summary": report.summary(),
    }
    kept = {lb.im_file: [int(c) for c in lb.cls] for lb in labels}
    return summary, kept, [_defect(m, tree, split) for m in report.messages]


def build_report(tree: Path, layout: Layout) -> dict[str, Any]:
    """The report: totals, per-class counts, per-split summaries, every defect with its file, and notes."""
    root = tree / layout.root
    splits: dict[str, Any] = {}
    images: dict[str, list[int]] = {}
    defects: list[dict[str, Any]] = []
    seen: set[str] = set()  # defect messages already reported by a split sharing the same files
    for split in SPLITS:
        sources = layout.splits.get(split) or []
        if not sources:
            continue
        summary, kept, found = _split_report(tree, root, sources, layout.names, split)
        splits[split] = summary
        images.update(kept)
        for d in found:
            key = f"{d['file']}:{d['line']}:{d['message']}"
            if key not in seen:
                seen.add(key)
                defects.append(d)
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
