"""The verification of a large upload in the spawned process gives the same report as in a thread."""

from __future__ import annotations

from pathlib import Path

from tests.platform.conftest import copy_tree
from yoloforge.platform.services.dataset_layout import find_layout
from yoloforge.platform.services.dataset_report import build_report
from yoloforge.platform.services.verifier import Verifier


def test_process_pool_report_equals_thread_report(coco128_dir: Path, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    copy_tree(coco128_dir, tree / "coco128")
    (tree / "coco128" / "labels" / "train2017" / "000000000009.txt").write_text("0 0.5 0.5 0.2\n")  # one defect
    layout = find_layout(tree, tmp_path, None)
    in_thread = build_report(tree, layout)
    verifier = Verifier(workers=2, min_images=1)  # every dataset goes to the process
    try:
        in_process = verifier(tree, layout)
        assert verifier._pool is not None  # it really ran there
    finally:
        verifier.close()
    assert in_process == in_thread
    assert in_thread["images"] == 255 and [d["file"] for d in in_thread["defects"]] == [
        "coco128/labels/train2017/000000000009.txt"
    ]
