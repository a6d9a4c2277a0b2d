"""Sign in/out, the projects list and create form, the project page: in chromium against a server process."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import expect

from tests.platform.web.support import PASSWORD, Site, assert_accessible, new_page, seed_models


def test_sign_in_wrong_then_right_then_out(site: Site, browser) -> None:
    page = new_page(browser, site, None)
    page.goto("/projects")
    expect(page).to_have_url(f"{site.url}/login?next=/projects")
    assert_accessible(page)
    page.fill("#login-name", "alice")
    page.fill("#login-password", "not the password")
    page.click("button[type=submit]")
    expect(page.get_by_role("alert")).to_contain_text("password")
    page.fill("#login-password", PASSWORD)
    page.press("#login-password", "Enter")
    expect(page).to_have_url(f"{site.url}/projects")
    expect(page.locator(".who")).to_contain_text("alice")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{site.url}/login")
    page.goto("/settings")  # the cookie no longer works
    expect(page).to_have_url(f"{site.url}/login?next=/settings")
    page.context.close()


def test_create_project_field_error_then_page(site: Site, browser) -> None:
    page = new_page(browser, site, "bob")
    page.goto("/projects")
    expect(page.get_by_test_id("empty-projects")).to_be_visible()
    assert_accessible(page)
    page.fill("#p-name", "has spaces")
    page.get_by_role("button", name="Create project").click()
    error = page.locator("#p-name-error")
    expect(error).to_be_visible()
    expect(page.locator("#p-name")).to_have_attribute("aria-invalid", "true")
    page.fill("#p-name", "forklifts")
    page.fill("#p-desc", "Forklifts and pallets")
    page.get_by_role("button", name="Create project").click()
    expect(page).to_have_url(f"{site.url}/bob/forklifts")
    expect(page.get_by_test_id("empty-models")).to_be_visible()
    command = page.get_by_test_id("train-command").inner_text()
    assert f"YOLOFORGE_PLATFORM_URL={site.url}" in command and "project=bob/forklifts" in command
    assert "yoloforge detect train" in command
    assert_accessible(page)
    page.goto("/projects")
    expect(page.get_by_test_id("project-list")).to_contain_text("forklifts")
    page.context.close()


def test_project_models_table_and_isolation(site: Site, browser) -> None:
    with site.api("alice") as api:
        assert api.post("/projects", json={"name": "detector"}).status_code == 201
    t0 = dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.timezone.utc)
    seed_models(site.home, "alice", "detector", [
        {"name": "exp1", "status": "completed", "epochs": 3, "started_at": t0, "ended_at": t0 + dt.timedelta(minutes=4),
         "rows": [{"metrics/mAP50-95(B)": 0.1 * e} for e in range(3)], "best": {"metrics/mAP50-95(B)": 0.2}},
        {"name": "exp2", "status": "running", "epochs": 10, "started_at": t0, "rows": [{"metrics/mAP50-95(B)": 0.05}]},
    ])  # fmt: skip
    page = new_page(browser, site, "alice")
    page.goto("/alice/detector")
    table = page.get_by_test_id("models-table")
    row = table.locator("tbody tr", has_text="exp1")
    expect(row).to_contain_text("completed")
    expect(row).to_contain_text("3 / 3")
    expect(row).to_contain_text("0.200")
    expect(row).to_contain_text("4 min 00 s")
    expect(table.locator("tbody tr", has_text="exp2")).to_contain_text("1 / 10")
    # a running model makes the table refresh itself (htmx) and the refresh shows what streaming wrote since
    seed_models(site.home, "alice", "detector", [{"name": "exp3", "status": "running", "epochs": 5}])
    expect(table.locator("tbody tr", has_text="exp3")).to_be_visible(timeout=15_000)
    assert_accessible(page)
    page.context.close()

    other = new_page(browser, site, "bob")
    other.goto("/alice/detector")
    expect(other.locator("h1")).to_have_text("Not found")
    expect(other.get_by_test_id("error-detail")).to_contain_text("detector")
    other.goto("/projects")
    expect(other.locator("main")).not_to_contain_text("detector")
    other.context.close()


def test_keyboard_and_narrow_screen(site: Site, browser) -> None:
    with site.api("alice") as api:
        assert api.post("/projects", json={"name": "narrow"}).status_code == 201
    seed_models(site.home, "alice", "narrow", [{"name": "a-model-with-a-long-name", "status": "pending", "epochs": 9}])
    page = new_page(browser, site, "alice", width=390)
    page.goto("/projects")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    for _ in range(3):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('nav.nav') !== null")
    for path in ("/projects", "/datasets", "/settings", "/alice/narrow"):
        page.goto(path)  # wide tables scroll inside their box; the page itself never scrolls sideways
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow} px at 390 px"
    page.context.close()
