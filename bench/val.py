"""Validation speed: images per second of val mode (inference + NMS + metrics) on coco128 val2017, CPU.

    python bench/val.py [--imgsz 640] [--batch 16]

Uses a fresh yolo11n (random weights make NMS work harder than a trained model: many boxes pass
conf=0.001) and Ultralytics' trained fixture, whose boxes are realistic. bench/metrics.py times our
mAP computation against pycocotools on the same predictions.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--imgsz", type=int, default=640)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    from yoloforge import YOLO

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "coco128"
        shutil.copytree(SHARED / "datasets/coco128", root, ignore=shutil.ignore_patterns("*.cache"))
        data = str(root / "coco128.yaml")
        models = {"yolo11n (trained fixture)": str(SHARED / "fixtures/ultralytics/yolo11n-coco128-overfit160.pt"),
                  "yolo11n (random init)": "yolo11n.yaml"}  # fmt: skip
        print(f"{'model':<28}{'img/s':>8}{'pre ms':>9}{'infer ms':>10}{'post ms':>9}")
        for label, source in models.items():
            model = YOLO(source)
            model.val(data=data, imgsz=args.imgsz, batch=args.batch, workers=2, plots=False, verbose=False)  # warm
            start = time.perf_counter()
            m = model.val(data=data, imgsz=args.imgsz, batch=args.batch, workers=2, plots=False, verbose=False)
            ips = m.n_images / (time.perf_counter() - start)
            s = m.speed
            print(f"{label:<28}{ips:>8.1f}{s['preprocess']:>9.1f}{s['inference']:>10.1f}{s['postprocess']:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
