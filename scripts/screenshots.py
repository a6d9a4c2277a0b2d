"""Writes docs/screenshots/*.png: each page of the platform in chromium, light and dark at 1280 px and one at
390 px, against a real server process with demo data (`make screenshots`; needs `make setup` and chromium)."""

from __future__ import annotations

import datetime as dt
import math
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.platform.support.server import run_cli  # noqa: E402
from tests.platform.web.support import launch, new_page, seed_models, start_site, upload  # noqa: E402

OUT = REPO / "docs" / "screenshots"
WEIGHTS = REPO.parent / "shared" / "fixtures" / "ultralytics" / "yolo11n-random.pt"


def _curve(epochs: int, speed: float) -> list[dict[str, float]]:
    """Plausible training curves (losses fall, mAP rises) for the demo models."""
    rows = []
    for e in range(epochs):
        k = 1 - math.exp(-speed * (e + 1))
        rows.append({
            "train/box_loss": 1.6 - 0.7 * k, "train/cls_loss": 2.4 - 1.5 * k, "train/dfl_loss": 1.4 - 0.35 * k,
            "val/box_loss": 1.7 - 0.6 * k, "val/cls_loss": 2.5 - 1.3 * k, "val/dfl_loss": 1.5 - 0.3 * k,
            "metrics/precision(B)": 0.3 + 0.45 * k, "metrics/recall(B)": 0.25 + 0.4 * k,
            "metrics/mAP50(B)": 0.2 + 0.5 * k, "metrics/mAP50-95(B)": 0.1 + 0.38 * k,
        })  # fmt: skip
    return rows


def seed(site, coco8: Path) -> None:
    upload(site, "alice", coco8, "coco8", description="8 COCO images: the smallest real detection dataset")
    with site.api("alice") as api:
        api.post(
            "/projects", json={"name": "forklifts", "description": "Forklifts, pallets and people in the warehouse"}
        )
        api.post("/projects", json={"name": "shelf-audit", "description": "Empty shelf spaces", "visibility": "public"})
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=3)
    runs = []
    for i, (status, epochs, done, speed) in enumerate(
        [
            ("completed", 50, 50, 0.08),
            ("completed", 100, 100, 0.05),
            ("running", 100, 37, 0.06),
            ("failed", 30, 12, 0.1),
        ]
    ):
        rows = _curve(done, speed)
        start = t0 + dt.timedelta(minutes=25 * i)
        runs.append({
            "name": f"yolo11{'nsmn'[i]}-{['baseline', 'long', 'mosaic-off', 'lr-high'][i]}", "status": status,
            "epochs": epochs, "rows": rows, "best": max(rows, key=lambda r: r["metrics/mAP50-95(B)"]),
            "started_at": start, "ended_at": None if status == "running" else start + dt.timedelta(minutes=18 + 7 * i),
        })  # fmt: skip
        if status == "completed":
            runs[-1]["checkpoints"] = {"best": WEIGHTS, "last": WEIGHTS}
        gpu, rate = [("a100-40gb", "1.29"), ("rtx-4090", "0.74"), ("l40s", "1.14"), ("rtx-4090", "0.74")][i]
        runs[-1]["billed"] = {"gpu": gpu, "rate": rate, "epoch_seconds": 21.5 + 4 * i}
    r = run_cli("server", "top-up", "alice", "20", "--note", "invoice 2026-114", "--home", str(site.home))
    assert r.returncode == 0, r.stderr
    seed_models(site.home, "alice", "forklifts", runs)


def main() -> int:
    from playwright.sync_api import sync_playwright

    from yoloforge.platform.bootstrap import coco8_zip

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        coco8 = Path(tmp) / "coco8.zip"
        coco8.write_bytes(coco8_zip())
        site = start_site(Path(tmp) / "home", catalog_text=None)  # the packaged GPU catalog
        try:
            seed(site, coco8)
            pages = {
                "login": ("/login", None),
                "projects": ("/projects", "alice"),
                "project": ("/alice/forklifts", "alice"),
                "project-empty": ("/alice/shelf-audit", "alice"),
                "model": ("/alice/forklifts/models/yolo11s-long", "alice"),
                "compare": (
                    "/alice/forklifts/compare?models=yolo11n-baseline,yolo11s-long,yolo11m-mosaic-off",
                    "alice",
                ),
                "train": ("/alice/forklifts/train", "alice"),
                "datasets": ("/datasets", "alice"),
                "dataset": ("/datasets/alice/coco8", "alice"),
                "billing": ("/billing", "alice"),
                "notifications": ("/notifications", "alice"),
                "settings": ("/settings", "alice"),
            }
            with sync_playwright() as p:
                browser = launch(p)
                for name, (path, user) in pages.items():
                    for dark in (False, True):
                        page = new_page(browser, site, user, dark=dark)
                        page.goto(path)
                        page.wait_for_load_state("networkidle")
                        page.screenshot(path=OUT / f"{name}-{'dark' if dark else 'light'}.png", full_page=True)
                        page.context.close()
                for dark in (False, True):  # the Train form's GPU step with its estimate
                    page = new_page(browser, site, "alice", dark=dark)
                    page.goto("/alice/forklifts/train")
                    page.get_by_role("button", name="Next").click()
                    page.get_by_role("button", name="Next").click()
                    page.get_by_test_id("estimate").get_by_text("Estimate").wait_for()
                    page.evaluate("window.scrollTo(0, 0)")  # the step change scrolled: the sticky header would float
                    page.screenshot(path=OUT / f"train-gpu-{'dark' if dark else 'light'}.png", full_page=True)
                    page.context.close()
                page = new_page(browser, site, "alice", width=390)
                page.goto("/alice/forklifts")
                page.screenshot(path=OUT / "project-390.png", full_page=True)
                page.goto("/alice/forklifts/models/yolo11s-long")
                page.screenshot(path=OUT / "model-390.png", full_page=True)
                browser.close()
        finally:
            site.server.stop()
    print(f"wrote {len(list(OUT.glob('*.png')))} screenshots to {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
