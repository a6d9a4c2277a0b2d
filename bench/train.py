"""Training benchmarks on coco128 (CPU): images per second, and Ultralytics' overfit accuracy run.

    python bench/train.py speed                 # train images/s, yolo11n, batch 16, imgsz 320 and 640
    python bench/train.py accuracy [--epochs N] # Ultralytics' schedule; compare with its 0.248 h and 0.086

The accuracy run repeats ../shared/fixtures/ultralytics/README.md exactly: coco128 train2017 as both train
and val, `epochs=150 imgsz=160 batch=16 nbs=16 optimizer=SGD lr0=0.01 mosaic=0 workers=2 device=cpu`, from
scratch. Ultralytics took 0.248 hours on this machine kind and reached a best mAP50-95 of 0.086.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "coco128"
ULTRALYTICS = {"hours": 0.248, "best_map": 0.086, "final_map": 0.0775}


def copy_coco128(tmp: Path, val_is_train: bool) -> Path:
    """A writable copy (caches are written next to the labels); returns its YAML."""
    root = tmp / "coco128"
    shutil.copytree(SHARED, root, ignore=shutil.ignore_patterns("*.cache"))
    text = (root / "coco128.yaml").read_text()
    if val_is_train:
        text = text.replace("val: images/val2017", "val: images/train2017")
    (root / "bench.yaml").write_text(text)
    return root / "bench.yaml"


class Counter:
    """Counts training images between the first and last batch of the measured epochs."""

    def __init__(self) -> None:
        self.images, self.start, self.end = 0, 0.0, 0.0

    def batch_start(self, trainer: object) -> None:
        if self.start == 0.0 and trainer.epoch >= 1:  # type: ignore[attr-defined]  # skip epoch 0 (warm-up)
            self.start = time.perf_counter()

    def batch_end(self, trainer: object) -> None:
        if self.start:
            self.images += int(trainer.batch["img"].shape[0])  # type: ignore[attr-defined]
            self.end = time.perf_counter()


def speed(tmp: Path) -> None:
    from yoloforge import YOLO

    data = copy_coco128(tmp, val_is_train=False)
    print(f"{'imgsz':>6} {'train img/s':>12}")
    for imgsz in (320, 640):
        counter = Counter()
        model = YOLO("yolo11n.yaml")
        model.add_callback("on_train_batch_start", counter.batch_start)
        model.add_callback("on_train_batch_end", counter.batch_end)
        model.train(data=str(data), epochs=3, imgsz=imgsz, batch=16, workers=2, device="cpu", val=False,
                    plots=False, verbose=False, project=str(tmp), name=f"speed{imgsz}")  # fmt: skip
        print(f"{imgsz:>6} {counter.images / (counter.end - counter.start):>12.1f}")


def accuracy(tmp: Path, epochs: int) -> None:
    from yoloforge import YOLO

    data = copy_coco128(tmp, val_is_train=True)
    start = time.perf_counter()
    model = YOLO("yolo11n.yaml")
    settings = {"epochs": epochs, "imgsz": 160, "batch": 16, "nbs": 16, "optimizer": "SGD", "lr0": 0.01, "mosaic": 0.0,
                "workers": 2, "device": "cpu"}  # fmt: skip
    final = model.train(data=str(data), **settings, project=str(tmp), name="accuracy", plots=False)
    hours = (time.perf_counter() - start) / 3600
    rows = (tmp / "accuracy" / "results.csv").read_text().splitlines()
    header, last = rows[0].split(","), rows[-1].split(",")
    col = header.index("metrics/mAP50-95(B)")
    best = max(float(r.split(",")[col]) for r in rows[1:])
    print(
        f"yoloforge: {epochs} epochs in {hours:.3f} h ({hours * 3600 / epochs:.1f} s/epoch); best mAP50-95 "
        f"{best:.4f}, final epoch {float(last[col]):.4f}; best.pt re-validated {final['metrics/mAP50-95(B)']:.4f}"
    )
    print(f"Ultralytics: 150 epochs in {ULTRALYTICS['hours']} h; best mAP50-95 {ULTRALYTICS['best_map']}, final epoch "
          f"{ULTRALYTICS['final_map']}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("speed", "accuracy"))
    parser.add_argument("--epochs", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.what == "speed":
            speed(Path(tmp))
        else:
            accuracy(Path(tmp), args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
