"""Train-loader throughput on coco128 at imgsz 640 (mosaic on, no cache), beside Ultralytics' figures.

    .venv/bin/python bench/loader.py [--workers 0 2] [--epochs 3] [--repeat 3] [--setups ...] [--profile]

coco128 is copied to a temporary folder first (the label cache is written beside the copy, never
beside ../shared). Each run warms up on one epoch (starts the workers, fills the per-process image
buffer), then times `--epochs` full epochs of batch 16 with nothing consuming the batches; the best
of `--repeat` runs is reported, since the machine is shared, with the CPU time per image (main
process and workers), which other processes disturb less. `--setups` adds rows without the image
buffer, and with a buffer much smaller than the dataset (what a COCO-sized set meets) using uniform
or batch-local mosaic partners. `--profile` runs cProfile (CPU time) over the workers=0 loop.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from yoloforge.cfg.schema import RunConfig  # noqa: E402
from yoloforge.data.dataset import DetectionDataset  # noqa: E402
from yoloforge.data.files import list_images  # noqa: E402
from yoloforge.data.loader import build_dataloader  # noqa: E402

COCO128 = ROOT.parent / "shared" / "datasets" / "coco128"
ULTRALYTICS = {0: 140.0, 2: 225.0}  # img/s, measured by the issue author on this machine kind
IMGSZ, BATCH = 640, 16


def copy_coco128(dst: Path) -> list[str]:
    for sub in ("images/train2017", "labels/train2017"):
        shutil.copytree(COCO128 / sub, dst / sub)
    return list_images(dst / "images" / "train2017")


# (label, buffer_bytes, partners): the default; no buffer; a buffer far smaller than the dataset (as
# coco128 is to a COCO-sized set) with uniform and with batch-local mosaic/mixup partners.
SETUPS = {
    "default": ("on", None, "auto"),
    "off": ("off", 0, "auto"),
    "small": ("32 MB", 32 << 20, "dataset"),
    "small-batch": ("32 MB", 32 << 20, "batch"),
}


def make_loader(im_files: list[str], workers: int, setup: str = "default"):
    _, buffer_bytes, partners = SETUPS[setup]
    cfg = RunConfig(imgsz=IMGSZ, batch=BATCH, workers=workers, cache=False)
    ds = DetectionDataset(im_files, 80, None, cfg, augment=True, buffer_bytes=buffer_bytes, partners=partners)
    return build_dataloader(ds, BATCH, workers, shuffle=True, seed=0)


def run_epochs(loader, first_epoch: int, epochs: int) -> tuple[int, float]:
    """Images loaded and seconds taken over `epochs` epochs."""
    n, t0 = 0, time.perf_counter()
    for e in range(first_epoch, first_epoch + epochs):
        loader.set_epoch(e)
        for batch in loader:
            n += len(batch["img"])
    return n, time.perf_counter() - t0


def cpu_seconds(loader) -> float:
    """CPU time (user + system) of this process and the loader's live workers: less load-sensitive."""
    total = time.process_time()
    it = getattr(loader, "_iterator", None)
    tick = os.sysconf("SC_CLK_TCK")
    for w in getattr(it, "_workers", []):
        with open(f"/proc/{w.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def measure(im_files: list[str], workers: int, epochs: int, setup: str) -> tuple[float, ...]:
    """(cold img/s over the first epoch, steady img/s and CPU ms/img over the next `epochs` epochs)."""
    loader = make_loader(im_files, workers, setup)
    n0, t0 = run_epochs(loader, 0, 1)
    c0 = cpu_seconds(loader)
    n1, t1 = run_epochs(loader, 1, epochs)
    cpu = cpu_seconds(loader) - c0
    del loader
    return n0 / t0, n1 / t1, 1000 * cpu / n1


def profile(im_files: list[str], epochs: int, top: int) -> None:
    loader = make_loader(im_files, 0)
    run_epochs(loader, 0, 1)
    prof = cProfile.Profile(time.process_time)  # CPU time: what other processes do matters less
    prof.enable()
    n, t = run_epochs(loader, 1, epochs)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    print(f"\ncProfile (CPU time), workers=0, {n} images in {t:.2f} s wall ({n / t:.0f} img/s under the profiler)")
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:6000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the warm-up epoch (>= 2)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--setups", nargs="+", default=["default"], choices=list(SETUPS), help="buffer/partner setups")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        im_files = copy_coco128(Path(tmp) / "coco128")
        if args.profile:
            profile(im_files, args.epochs, args.top)
            return
        rows = []
        for w in args.workers:
            for setup in args.setups:
                runs = [measure(im_files, w, args.epochs, setup) for _ in range(args.repeat)]
                rows.append((w, setup, *(max(r[k] for r in runs) for k in (0, 1)), min(r[2] for r in runs)))
    end = os.getloadavg()[0]
    print(
        f"\ncoco128 train loader, imgsz {IMGSZ}, batch {BATCH}, mosaic on, cache off; best of {args.repeat}; "
        f"load average {load:.2f} at start, {end:.2f} at end, on {os.cpu_count()} cores"
    )
    head = f"cold epoch img/s | steady img/s ({args.epochs} epochs) | CPU ms/img | Ultralytics img/s | ratio"
    print(f"| workers | buffer | partners | {head} |")
    print("|---|---|---|---|---|---|---|---|")
    for w, setup, cold, warm, cpu in rows:
        label, _, partners = SETUPS[setup]
        inc = ULTRALYTICS.get(w)
        ratio = f"{warm / inc:.2f}x" if inc else "-"
        cells = f"{cold:.0f} | {warm:.0f} | {cpu:.2f} | {inc or '-'} | {ratio}"
        print(f"| {w} | {label} | {partners} | {cells} |")


if __name__ == "__main__":
    main()
