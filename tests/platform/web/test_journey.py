"""The whole journey in chromium against a server process that trains for real: sign in, upload coco8, Train Model
on a metered local GPU type ($36/h, 6 tiny epochs) with its estimate shown, the charts gain points while it runs,
Stop, Resume, completed, Compare, download best.pt, the per-epoch cost rows on the model and Billing pages, the CSV
report downloaded by the browser equal to the ledger; a second user sees none of it."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from decimal import Decimal
from pathlib import Path

from playwright.sync_api import expect

from tests.platform.web.support import PASSWORD, Site, assert_accessible, new_page, seed_models

TRAINING = 240_000  # ms: a cold worker imports torch and trains 6 epochs at imgsz 64 on a shared 2-core machine


def test_journey(site: Site, browser, coco8_zip: Path, tmp_path: Path) -> None:
    page = new_page(browser, site, None)
    page.goto("/login")
    page.fill("#login-name", "carol")
    page.fill("#login-password", PASSWORD)
    page.press("#login-password", "Enter")
    expect(page).to_have_url(f"{site.url}/projects")

    page.goto("/datasets")
    page.set_input_files("#u-file", str(coco8_zip))
    page.fill("#u-name", "coco8")
    page.get_by_role("button", name="Upload and check").click()
    expect(page).to_have_url(re.compile(r"/datasets/carol/coco8\?version=1$"), timeout=60_000)

    page.goto("/projects")
    page.fill("#p-name", "journey")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(f"{site.url}/carol/journey")
    page.get_by_role("link", name="Train Model").click()
    expect(page.get_by_role("radio", name="carol/coco8")).to_be_checked()
    page.get_by_role("button", name="Next").click()
    page.locator("#t-pretrained").uncheck()  # no model hub here: YOLO11n from scratch
    page.fill("#t-name", "first")
    page.fill("#t-epochs", "6")  # long enough that Stop lands before the last epoch
    page.fill("#t-imgsz", "64")
    page.fill("#t-batch", "4")
    page.get_by_text("Advanced settings").click()
    page.fill("#s-workers", "0")
    page.get_by_role("button", name="Next").click()
    cpu = page.get_by_test_id("gpu-table").locator("tr", has_text="CPU (local)")
    expect(cpu).to_contain_text("Free")
    expect(cpu.get_by_role("radio")).to_be_checked()
    page.get_by_test_id("gpu-table").locator("tr", has_text="CPU (metered)").get_by_role("radio").check()
    expect(page.get_by_test_id("estimate")).to_contain_text("for 6 epochs on cpu-metered ($36/h)")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Start Training").click()
    expect(page).to_have_url(f"{site.url}/carol/journey/models/first", timeout=30_000)

    charts = page.locator("#charts figure[data-chart='0']")
    expect(charts).to_have_attribute("data-points", re.compile(r"^[12]$"), timeout=TRAINING)  # grew live, no reload
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Stop Training").click()
    resume = page.get_by_role("button", name="Resume Training")
    expect(resume).to_be_visible(timeout=TRAINING)
    expect(page.get_by_test_id("model-status")).to_have_text("stopped")
    page.once("dialog", lambda d: d.accept())
    resume.click()
    expect(page.get_by_test_id("model-status")).to_have_text("completed", timeout=TRAINING)
    page.reload()
    with site.api("carol") as api:
        stored = [r["epoch"] for r in api.get("/projects/carol/journey/models/first").json()["metrics"]]
    assert set(stored) == set(range(6)), stored
    for i in range(5):  # every stored epoch is on every chart
        expect(page.locator("#charts figure[data-chart]").nth(i)).to_have_attribute("data-points", str(len(stored)))
    assert_accessible(page)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download best.pt").click()
    saved = tmp_path / "best.pt"
    info.value.save_as(saved)
    with site.api("carol") as api:
        ckpt = next(
            c for c in api.get("/projects/carol/journey/models/first").json()["checkpoints"] if c["kind"] == "best"
        )
    assert hashlib.sha256(saved.read_bytes()).hexdigest() == ckpt["sha256"]

    _costs_and_report(page, site, tmp_path)

    seed_models(site.home, "carol", "journey", [{"name": "second", "status": "completed", "epochs": 3,
        "rows": [{"metrics/mAP50-95(B)": 0.01 * e} for e in range(3)]}])  # fmt: skip
    page.goto("/carol/journey")
    page.get_by_label("Compare first").check()
    page.get_by_label("Compare second").check()
    page.get_by_role("button", name="Compare selected").click()
    expect(page.get_by_test_id("compare-table").locator("tbody tr")).to_have_count(2)

    other = new_page(browser, site, "bob")
    for path in ("/carol/journey", "/carol/journey/models/first", "/datasets/carol/coco8"):
        other.goto(path)
        expect(other.locator("h1")).to_have_text("Not found")
    other.goto("/projects")
    expect(other.locator("main")).not_to_contain_text("journey")
    other.context.close()
    page.context.close()


def _costs_and_report(page, site: Site, tmp_path: Path) -> None:
    """The model page's cost rows (one per epoch, adding up to the total), the Billing page's ledger, and the CSV
    the browser downloads: equal to the API's report, its rows the ledger's."""
    with site.api("carol") as api:
        cost = api.get("/projects/carol/journey/models/first/cost").json()
        balance = api.get("/billing").json()["balance"]
        ledger = api.get("/billing/ledger", params={"limit": 100}).json()
    epochs = [r["epoch"] for r in cost["rows"] if r["kind"] == "epoch"]
    assert sorted(epochs) == list(range(6)), cost["rows"]  # every epoch charged once, across the stop and resume
    assert sum(Decimal(r["cost"]) for r in cost["rows"]) == Decimal(cost["total_cost"]) > 0
    page.goto("/carol/journey/models/first")
    expect(page.get_by_test_id("cost-total")).to_have_text(f"${Decimal(cost['total_cost']):.2f}")
    expect(page.get_by_test_id("cost-rows").locator("tbody tr")).to_have_count(len(cost["rows"]))

    page.goto("/billing")
    expect(page.get_by_test_id("billing-balance")).to_have_text(f"${Decimal(balance):,.2f}")
    rows = page.get_by_test_id("ledger").locator("tbody tr")
    expect(rows).to_have_count(ledger["total"])  # grant, top-up, and the job's charges
    expect(rows.filter(has_text="journey/first")).to_have_count(len(cost["rows"]))  # own models without "carol/"
    assert_accessible(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download CSV").click()
    saved = tmp_path / "report.csv"
    info.value.save_as(saved)
    report = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert [int(r["entry"]) for r in report] == sorted(e["id"] for e in ledger["items"])
    assert sum(Decimal(r["amount_usd"]) for r in report) == Decimal(balance)
    charged = [r for r in report if r["model"] == "carol/journey/first"]
    assert sum(-Decimal(r["amount_usd"]) for r in charged) == Decimal(cost["total_cost"])
    assert sorted(int(r["epoch"]) for r in charged if r["kind"] == "charge" and r["epoch"]) == sorted(
        r["epoch"] for r in cost["rows"] if r["epoch"] is not None
    )
