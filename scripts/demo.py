"""`make demo`: the first run a newcomer sees, about a minute or two on 2 CPU cores.

Online, the docs' first example scaled to a CPU: fine-tune Ultralytics' pretrained yolo11n.pt on coco8 (the
weights are fetched once into the weights folder and converted; see yoloforge/nn/pretrained.py).

Offline (yolo11n.pt is neither on disk nor downloadable), one line says why, and YOLO11n trains from scratch
on coco8's 4 training images, validated on those same 4 images. From scratch, 4 images teach nothing about
coco8's 4 other (val) images: their metrics would sit at 0 for the whole run, and validation losses jump
about as the BatchNorm statistics of a network that has seen 4 pictures meet new ones, which reads as a
broken trainer. Validated on what it trains on, results.png tells what the run does: the model fits them.

The settings follow from how BatchNorm behaves on 4 images. Batch 4 (all 4 images in every batch) gives it
batch statistics over the whole set. With one batch per epoch, its running statistics (momentum 0.03, one
update per forward pass) trail the weights by about 33 optimizer steps, so the evaluated model's activations
blow up whenever the weights move fast: with lr0=0.02 validation losses jumped to hundreds (to 1e6 with the
earlier batch 2 and bias warmup), and the 100-iteration warmup minimum would cover the whole run. So: SGD at
lr0=0.01 without warmup, and mosaic for the first half only (close_mosaic=60), so the second half fits the
plain images it is validated on. Measured (coco8 train as val, 120 epochs): mAP50 0.36, mAP50-95 0.22, with
losses falling smoothly (lr0=0.02 reached mAP50 0.72-0.78, but with validation-loss spikes).

    python scripts/demo.py [--epochs N] [--imgsz N] [--project DIR]
"""

from __future__ import annotations

import argparse
import logging
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

# the docs' first example (yolo11n.pt on coco8), at a size and length that fit a CPU minute
FINETUNE = {"epochs": 10, "imgsz": 320}
SCRATCH = {"epochs": 120, "imgsz": 160, "optimizer": "SGD", "lr0": 0.01, "warmup_epochs": 0, "close_mosaic": 60}
COMMON = {"data": "coco8.yaml", "batch": 4, "workers": 0, "device": "cpu", "exist_ok": True}


def fit_dataset(project: Path) -> Path:
    """A dataset YAML for the packaged coco8 that validates on its training images."""
    from yoloforge.data.dataset_yaml import find_dataset_yaml

    packaged = find_dataset_yaml("coco8.yaml")
    spec = yaml.safe_load(packaged.read_text(encoding="utf-8"))
    spec["path"], spec["val"] = str((packaged.parent / spec["path"]).resolve()), spec["train"]
    out = project / "coco8-train-as-val.yaml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# coco8, validated on its 4 training images (written by make demo)\n"
                   + yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")  # fmt: skip
    return out


def pretrained_available() -> str | None:
    """None when yolo11n.pt is on disk or could be fetched; otherwise the one-line reason it could not."""
    from yoloforge.nn.pretrained import WeightsDownloadError, resolve_weights

    log = logging.getLogger("yoloforge")
    level = log.level
    log.setLevel(logging.ERROR)  # the retries' warnings: the one line below says it all
    try:
        resolve_weights("yolo11n.pt")
    except WeightsDownloadError as e:
        return f"could not fetch yolo11n.pt from {e.url} ({e.reason}); put it at {e.path} to fine-tune instead"
    finally:
        log.setLevel(level)
    return None


def train(settings: dict) -> int:
    """Run `yoloforge detect train key=value ...` as a user types it, showing the command first."""
    args = ["detect", "train", *(f"{k}={v}" for k, v in settings.items())]
    print("$ yoloforge " + " ".join(shlex.quote(a) for a in args), flush=True)
    return subprocess.call([sys.executable, "-m", "yoloforge", *args])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, help="override the number of epochs")
    ap.add_argument("--imgsz", type=int, help="override the image size")
    ap.add_argument("--project", default="runs/demo", help="folder for the run (default runs/demo)")
    opts = ap.parse_args()
    project = Path(opts.project)
    why_not = pretrained_available()
    if why_not is None:
        settings = {**COMMON, **FINETUNE, "model": "yolo11n.pt", "project": project, "name": "coco8-finetune"}
        print("make demo: fine-tuning Ultralytics' pretrained yolo11n.pt on coco8", flush=True)
    else:
        print(f"make demo: offline, training YOLO11n from scratch, validated on coco8's 4 training images: "
              f"{why_not}", flush=True)  # fmt: skip
        data = fit_dataset(project)
        settings = {**COMMON, **SCRATCH, "data": data, "model": "yolo11n.yaml", "project": project, "name": "coco8"}
    settings.update({k: v for k, v in (("epochs", opts.epochs), ("imgsz", opts.imgsz)) if v is not None})
    return train(settings)


if __name__ == "__main__":
    sys.exit(main())
