"""The model page: curves from the metrics so far, checkpoints that download, the settings used."""

from __future__ import annotations

import hashlib
from pathlib import Path

from playwright.sync_api import expect

from tests.platform.web.support import Site, assert_accessible, new_page, seed_models

COLUMNS = ("train/box_loss", "val/box_loss", "metrics/mAP50(B)", "metrics/mAP50-95(B)")


def test_model_page_curves_and_checkpoint_download(site: Site, browser, fixtures_dir: Path, tmp_path: Path) -> None:
    with site.api("alice") as api:
        assert api.post("/projects", json={"name": "curves"}).status_code == 201
    weights = fixtures_dir / "yolo11n-random.pt"
    rows = [{c: 1.0 / (e + 1) for c in COLUMNS} for e in range(3)]
    seed_models(site.home, "alice", "curves", [
        {"name": "exp1", "status": "completed", "epochs": 3, "rows": rows, "checkpoints": {"best": weights}},
        {"name": "fresh", "status": "running", "epochs": 3},
    ])  # fmt: skip
    page = new_page(browser, site, "alice")
    page.goto("/alice/curves/models/exp1")
    charts = page.locator("#charts figure")
    expect(charts).to_have_count(5)
    for i in range(5):
        expect(charts.nth(i)).to_have_attribute("data-points", "3")
    expect(charts.nth(0).locator("canvas")).to_have_count(1)
    expect(charts.nth(0)).to_contain_text("train box loss")  # the legend names each series
    expect(page.get_by_test_id("settings")).to_contain_text("imgsz")
    assert_accessible(page)
    with page.expect_download() as info:
        page.get_by_role("link", name="Download best.pt").click()
    saved = tmp_path / "best.pt"
    info.value.save_as(saved)
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(weights.read_bytes()).hexdigest()

    page.goto("/alice/curves/models/fresh")
    expect(page.get_by_test_id("no-epochs")).to_be_visible()
    expect(page.get_by_test_id("model-status")).to_have_text("running")
    page.context.close()

    other = new_page(browser, site, "bob")
    other.goto("/alice/curves/models/exp1")
    expect(other.locator("h1")).to_have_text("Not found")
    other.context.close()
