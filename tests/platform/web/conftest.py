"""One server process and one chromium for all browser tests of a pytest worker (they share the xdist group
"browser", so `make test` runs them on one worker: one browser, one server)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.platform.web.support import CHROMIUM, VENDOR, Site, launch, start_site

pytest.importorskip("playwright", reason="playwright is not installed: pip install -e .[dev]")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/platform/web/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not (VENDOR / "htmx.min.js").is_file():
        pytest.fail("the web assets are missing: run `make setup` (npm ci) first")
    s = start_site(tmp_path_factory.mktemp("web") / "home")
    yield s
    s.server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch(p)
        yield b
        b.close()
