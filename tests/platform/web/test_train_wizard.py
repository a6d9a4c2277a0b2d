"""Train Model: four steps, the advanced form generated from the library's settings schema (defaults, ranges,
help), only changed settings sent."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.platform.web.support import Site, assert_accessible, new_page, upload


def test_wizard_steps_and_generated_settings(site: Site, browser, coco8_zip: Path) -> None:
    from yoloforge.cfg.schema import RunConfig

    upload(site, "bob", coco8_zip, "wizard-data")
    with site.api("bob") as api:
        assert api.post("/projects", json={"name": "wizard"}).status_code == 201
    page = new_page(browser, site, "bob")
    page.goto("/bob/wizard")
    page.get_by_role("link", name="Train Model").click()
    expect(page).to_have_url(f"{site.url}/bob/wizard/train")
    expect(page.get_by_role("radio", name="bob/wizard-data")).to_be_checked()
    expect(page.get_by_role("button", name="Back")).to_be_hidden()  # one step at a time
    expect(page.get_by_role("button", name="Start Training")).to_be_hidden()
    expect(page.locator("[data-step='2']")).to_be_hidden()
    assert_accessible(page)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("radio", name="YOLO11n")).to_be_checked()
    expect(page.locator("#t-epochs")).to_have_value("100")
    expect(page.locator("#t-imgsz")).to_have_value("640")
    page.get_by_text("Advanced settings").click()
    lr0 = page.locator("#s-lr0")  # generated from the schema: default, range and help text
    expect(lr0).to_have_value(str(RunConfig.model_fields["lr0"].default))
    expect(page.locator("#s-lrf")).to_have_attribute("max", "1.0")
    expect(page.locator("#s-lr0-help")).to_contain_text(RunConfig.model_fields["lr0"].description)
    for group in ("Core", "Learning rate", "Augmentation", "Task-specific"):
        expect(page.locator("fieldset.group legend", has_text=group)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("radio", name="YOLO11s").check()
    page.fill("#t-epochs", "3")
    page.fill("#t-imgsz", "64")
    lr0.fill("0.02")
    page.select_option("#s-cos_lr", "true")
    page.get_by_role("button", name="Next").click()
    # step 3: the submission's dry run answers the estimate for these settings, and nothing is created
    estimate = page.get_by_test_id("estimate")
    expect(estimate).to_contain_text("Estimate: $0.00 – $0.00")
    expect(estimate).to_contain_text("for 3 epochs on cpu ($0/h)")
    with site.api("bob") as api:
        assert api.get("/projects/bob/wizard/models").json()["total"] == 0
    page.get_by_role("button", name="Back").click()
    page.fill("#t-epochs", "300")  # a changed setting is estimated again when step 3 shows
    page.get_by_role("button", name="Next").click()
    expect(estimate).to_contain_text("for 300 epochs on cpu")
    page.get_by_role("button", name="Back").click()
    page.fill("#t-epochs", "3")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    review = page.get_by_test_id("review")
    expect(review).to_contain_text("bob/wizard-data")
    expect(review).to_contain_text("yolo11s")
    expect(review).to_contain_text("Auto")
    expect(review).to_contain_text("lr0=0.02, cos_lr=true")  # only what differs from the defaults
    expect(review).not_to_contain_text("mosaic")
    assert_accessible(page)
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Back").click()
    page.locator("#t-pretrained").uncheck()  # from scratch: the architecture YAML, no weights to fetch
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    expect(review).to_contain_text("yolo11s.yaml")
    page.get_by_role("button", name="Back").click()
    expect(page.locator("[data-step='3'] legend")).to_be_visible()
    page.context.close()
