"""Datasets (upload with progress, report, visibility, delete) and API keys (shown once, copy, revoke)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.platform.web.support import Site, assert_accessible, new_page


def _with_defects(coco8_zip: Path, dst: Path) -> Path:
    """coco8 plus a label row with class 99 (beyond nc) in one training label file."""
    with zipfile.ZipFile(coco8_zip) as src, zipfile.ZipFile(dst, "w") as out:
        labels = sorted(n for n in src.namelist() if "/labels/train/" in n and n.endswith(".txt"))
        for info in src.infolist():
            data = src.read(info)
            if info.filename == labels[0]:
                data += b"99 0.5 0.5 0.1 0.1\n"
            out.writestr(info, data)
    return dst


def test_upload_report_visibility_delete(site: Site, browser, coco8_zip: Path, tmp_path: Path) -> None:
    archive = _with_defects(coco8_zip, tmp_path / "coco8-defects.zip")
    page = new_page(browser, site, "alice")
    page.goto("/datasets")
    expect(page.get_by_test_id("empty-datasets")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator("#u-file-error")).to_contain_text("choose a .zip")
    page.set_input_files("#u-file", str(archive))
    page.fill("#u-name", "coco8")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("progressbar", name="Upload progress")).to_be_visible()
    expect(page).to_have_url(f"{site.url}/datasets/alice/coco8?version=1", timeout=60_000)
    with site.api("alice") as api:
        report = api.get("/datasets/alice/coco8/versions/1").json()["report"]
    assert report["images"] == 7  # coco8's 8 images less the one whose label names class 99
    expect(page.get_by_test_id("stat-images")).to_have_text("7")
    bars = page.get_by_test_id("class-bars").locator("tbody tr")
    first = bars.first.locator("th").inner_text()
    counts = [int(t) for t in bars.locator("td.num:nth-child(3)").all_inner_texts()]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0, counts
    assert first == "person"  # coco8's most frequent class
    expect(page.get_by_test_id("stat-defects")).to_have_text("1")
    expect(page.get_by_test_id("defects")).to_contain_text("labels/train")
    assert_accessible(page)

    page.get_by_role("button", name="Make public").click()
    expect(page.locator("h1 .badge")).to_have_text("public")
    other = new_page(browser, site, "bob")
    other.goto("/datasets")
    expect(other.get_by_test_id("public-datasets")).to_contain_text("coco8")
    page.get_by_role("button", name="Make private").click()
    expect(page.locator("h1 .badge")).to_have_text("private")
    other.goto("/datasets/alice/coco8")
    expect(other.locator("h1")).to_have_text("Not found")
    other.context.close()

    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(f"{site.url}/datasets")
    expect(page.get_by_test_id("empty-datasets")).to_be_visible()
    page.context.close()


def test_upload_error_is_shown(site: Site, browser, tmp_path: Path) -> None:
    bad = tmp_path / "not-a-dataset.zip"
    bad.write_bytes(b"this is not a zip file")
    page = new_page(browser, site, "bob")
    page.goto("/datasets")
    page.set_input_files("#u-file", str(bad))
    page.fill("#u-name", "broken")
    page.get_by_role("button", name="Upload and check").click()
    expect(page.locator(".field-error, [data-role=alert]").filter(has_text="zip")).to_be_visible(timeout=30_000)
    page.context.close()


def test_api_key_shown_once_then_revoked(site: Site, browser) -> None:
    page = new_page(browser, site, "bob")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/settings")
    assert_accessible(page)
    page.fill("#k-name", "laptop")
    page.select_option("#k-scope", "read")
    page.get_by_role("button", name="Create key").click()
    box = page.get_by_test_id("new-key")
    expect(box).to_be_visible()
    key = page.locator("#new-key-value").inner_text().strip()
    assert key.startswith("yf_")
    table = page.get_by_test_id("keys-table")
    row = table.locator("tbody tr", has_text="laptop")
    expect(row).to_contain_text(key[:8])
    expect(row).to_contain_text("read")
    box.get_by_role("button", name="Copy").click()
    expect(box.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    me = httpx.get(f"{site.url}/api/v1/users/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["scopes"] == ["read"]

    page.reload()  # the key itself is never shown again
    assert key not in page.content()
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Revoke key laptop").click()
    expect(table.locator("tbody tr", has_text="laptop")).to_contain_text("revoked")
    assert httpx.get(f"{site.url}/api/v1/users/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    page.context.close()
