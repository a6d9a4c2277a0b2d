"""Where the pages' files are: our templates and static files, and the npm packages `make setup` copies in."""

from __future__ import annotations

from pathlib import Path

WEB = Path(__file__).parent
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"
VENDOR = STATIC / "vendor"
# what scripts/vendor_assets.mjs copies out of node_modules (npm ci runs it)
VENDOR_FILES = (
    "htmx.min.js",
    "uPlot.iife.min.js",
    "uPlot.min.css",
    "axe.min.js",
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "redoc.standalone.js",
)
MISSING_HELP = (
    "The web assets are not installed: run `make setup` (it runs `npm ci`, which copies htmx, uPlot and the API "
    "docs' files into yoloforge/platform/web/static/vendor), then reload this page."
)


def missing_vendor_files() -> list[str]:
    """Names from VENDOR_FILES that are not in the vendor folder (empty when `make setup` has run)."""
    return [name for name in VENDOR_FILES if not (VENDOR / name).is_file()]
