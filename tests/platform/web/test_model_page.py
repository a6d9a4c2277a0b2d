"""The model page: curves from the metrics so far, checkpoints that download, the settings used."""

from __future__ import annotations

import hashlib
import re
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
    charts = page.locator("#charts figure[data-chart]")
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


def test_compare_two_models(site: Site, browser) -> None:
    with site.api("alice") as api:
        assert api.post("/projects", json={"name": "versus"}).status_code == 201
    fast = [{"metrics/mAP50-95(B)": 0.2 * (e + 1), "val/box_loss": 2.0 - e} for e in range(3)]
    slow = [{"metrics/mAP50-95(B)": 0.1 * (e + 1), "val/box_loss": 2.5 - e} for e in range(5)]
    seed_models(site.home, "alice", "versus", [
        {"name": "fast", "status": "completed", "epochs": 3, "rows": fast},
        {"name": "slow", "status": "completed", "epochs": 5, "rows": slow},
        {"name": "other", "status": "completed", "epochs": 5},
    ])  # fmt: skip
    page = new_page(browser, site, "alice")
    page.goto("/alice/versus")
    page.get_by_role("button", name="Compare selected").click()
    expect(page.locator("#compare-alert")).to_contain_text("at least two")
    page.get_by_label("Compare fast").check()
    page.get_by_label("Compare slow").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page).to_have_url(re.compile(r"/alice/versus/compare\?models=(fast,slow|slow,fast)$"))
    table = page.get_by_test_id("compare-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr", has_text="fast")).to_contain_text("0.600")  # best mAP50-95 of fast
    expect(table.locator("tbody tr", has_text="slow")).to_contain_text("0.500")
    diff = page.get_by_test_id("settings-diff")
    expect(diff.locator("tbody tr")).to_have_count(1)
    expect(diff).to_contain_text("epochs")
    first = page.locator("#compare-charts figure").first
    expect(first).to_have_attribute("data-series", "2")
    legend = first.locator(".u-legend .u-series", has_text="fast")
    legend.click()  # uPlot's legend hides that model's curve
    expect(legend).to_have_class(re.compile("u-off"))
    assert_accessible(page)
    page.goto("/alice/versus/compare?models=fast")
    expect(page.get_by_test_id("error-detail")).to_contain_text("at least two")
    page.context.close()
