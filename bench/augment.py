"""Train-time augmentation cost per 640 sample on one core, coco128 images pre-decoded in memory.

    .venv/bin/python bench/augment.py [--n 400] [--repeat 3] [--imgsz 640] [--no-profile]

Times the default train chain (mosaic + affine + HSV + flip, the run defaults) and variants, each
stage on its own, and the classic way of doing mosaic + affine (a 2*imgsz 3-channel canvas, then a
3-channel warp) beside the folded one, then profiles the default chain with cProfile. Decoding is
left out (the loader caches decoded images); OpenCV runs single-threaded, as in a loader worker.
The machine is shared: each figure is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yoloforge.cfg.schema import RunConfig  # noqa: E402
from yoloforge.data.augment import (  # noqa: E402
    Mosaic,
    RandomFlip,
    RandomHSV,
    RandomPerspective,
    build_train_transforms,
)

COCO128 = ROOT.parent / "shared" / "datasets" / "coco128"


class MemorySource:
    """coco128 decoded once and resized so the long side is imgsz: what a RAM cache serves."""

    def __init__(self, root: Path, imgsz: int) -> None:
        self.samples = [self._load(p, root, imgsz) for p in sorted((root / "images" / "train2017").glob("*.jpg"))]

    @staticmethod
    def _load(path: Path, root: Path, imgsz: int) -> dict:
        img = cv2.imread(str(path))
        h0, w0 = img.shape[:2]
        r = imgsz / max(h0, w0)
        img = cv2.resize(img, (round(w0 * r), round(h0 * r)), interpolation=cv2.INTER_LINEAR)
        h, w = img.shape[:2]
        label = root / "labels" / "train2017" / f"{path.stem}.txt"
        lab = np.loadtxt(label, ndmin=2).reshape(-1, 5) if label.exists() else np.zeros((0, 5))
        xywh = lab[:, 1:] * [w, h, w, h]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], 1)
        return {
            "img": img,
            "cls": lab[:, 0].astype(np.int64),
            "bboxes": boxes.astype(np.float32),
            "segments": [],
            "im_file": str(path),
            "ori_shape": (h0, w0),
            "resized_shape": (h, w),
        }

    def __len__(self) -> int:
        return len(self.samples)

    def load_sample(self, i: int) -> dict:
        return self.samples[i]


def classic_mosaic_affine(tiles: list[np.ndarray], rng: np.random.Generator, s: int) -> np.ndarray:
    """The usual way, images only: a 2s x 2s grey canvas, 4 pastes, one 3-channel warp to s x s."""
    canvas = np.full((2 * s, 2 * s, 3), 114, np.uint8)
    xc, yc = (int(v) for v in rng.uniform(0.5 * s, 1.5 * s, 2))
    for i, t in enumerate(tiles):
        h, w = t.shape[:2]
        x0, y0 = (xc - w if i in (0, 2) else xc), (yc - h if i in (0, 1) else yc)
        ax0, ay0, ax1, ay1 = max(x0, 0), max(y0, 0), min(x0 + w, 2 * s), min(y0 + h, 2 * s)
        canvas[ay0:ay1, ax0:ax1] = t[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0]
    m = RandomPerspective(imgsz=s).random_matrix(rng, (s, s), (s, s))
    return cv2.warpAffine(canvas, m[:2], (s, s), flags=cv2.INTER_LINEAR, borderValue=(114, 114, 114))


def per_sample_ms(fn: Callable[[int, np.random.Generator], object], n: int, repeat: int) -> tuple[float, float]:
    """Best-of-repeat (wall, CPU) milliseconds per call of fn(i, rng) over n calls.

    CPU time (this process only) is the steadier figure on a shared machine; single-threaded, it is
    what one loader worker spends.
    """
    wall = cpu = float("inf")
    for r in range(repeat):
        rng = np.random.default_rng(r)
        fn(0, rng)  # warm-up
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(n):
            fn(i, rng)
        wall = min(wall, (time.perf_counter() - t0) / n * 1e3)
        cpu = min(cpu, (time.process_time() - c0) / n * 1e3)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--no-profile", action="store_true")
    args = ap.parse_args()
    cv2.setNumThreads(0)  # OpenCV sequential, as in a loader worker
    s = args.imgsz
    src = MemorySource(COCO128, s)
    k = len(src)
    print(f"coco128: {k} images in memory, imgsz {s}, OpenCV {cv2.__version__} single-threaded\n")

    default = build_train_transforms(RunConfig(), s, src)
    closed = build_train_transforms(RunConfig(), s, src)
    closed.close_mosaic()
    strong_cfg = RunConfig(degrees=10, shear=2, perspective=0.0005, mixup=0.15, cutmix=0.1, flipud=0.1)
    strong = build_train_transforms(strong_cfg, s, src)
    affine = RandomPerspective(translate=0.1, scale=0.5, imgsz=s)
    mosaic = Mosaic(src, s, affine)
    stage_out = mosaic(src.samples[0], np.random.default_rng(0))
    rows = [
        ("train chain, defaults (mosaic+affine+hsv+fliplr)", lambda i, g: default(src.samples[i % k], g)),
        ("  mosaic + affine (one warp)", lambda i, g: mosaic(src.samples[i % k], g)),
        ("  hsv", lambda i, g: RandomHSV()(stage_out, g)),
        ("  fliplr (p=1)", lambda i, g: RandomFlip(1.0)(stage_out, g)),
        (
            "classic mosaic canvas + 3-channel warp (images only)",
            lambda i, g: classic_mosaic_affine([src.samples[(i + j) % k]["img"] for j in range(4)], g, s),
        ),
        ("train chain after close_mosaic (letterbox folded into affine)", lambda i, g: closed(src.samples[i % k], g)),
        (
            "train chain, strong (deg 10, shear 2, persp, mixup .15, cutmix .1)",
            lambda i, g: strong(src.samples[i % k], g),
        ),
    ]
    print(f"{'ms per sample (best of ' + str(args.repeat) + ')':<72} {'wall':>6} {'CPU':>6}")
    for name, fn in rows:
        wall, cpu = per_sample_ms(fn, args.n, args.repeat)
        print(f"{name:<72} {wall:6.2f} {cpu:6.2f}")

    if not args.no_profile:
        prof = cProfile.Profile()
        rng = np.random.default_rng(0)
        prof.enable()
        for i in range(args.n):
            default(src.samples[i % k], rng)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
        print(f"\ncProfile of the default chain, {args.n} samples, by own time:")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


if __name__ == "__main__":
    main()
