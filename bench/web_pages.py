"""Server time of the web pages, against a real `yoloforge server` process on 127.0.0.1.

    .venv/bin/python bench/web_pages.py [--models 1000] [--repeat 30]

    .venv/bin/python bench/web_pages.py --sse [--streams 20] [--watch 5] [--epochs 15]

Seeds one project with --models models (each with 3 epochs of metrics, written through the service layer as
streaming writes them), then times GET /<owner>/<project> (the project page: 100 models a page, rendered from
the JSON API called in-process) as the signed-in browser would fetch it, and the same page's JSON API call on
its own for comparison. Figures: median and p95 of --repeat requests after 3 warm-ups, in ms. Target: project
page < 200 ms.

--sse: --streams models stream epochs at once through the native protocol (POST /api/v1/stream/runs/{id}/events,
one epoch per model per second) while chromium shows --watch of their model pages (EventSource over HTTP/1.1:
a browser holds at most 6 connections per host). Latency = when the point is on the chart (the page's
window.yfDrawn, Date.now()) minus when the epoch event was posted (time.time(), same machine clock): p50 and p99.
Target p99 < 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platform.web.support import seed_models, session_cookie, start_site  # noqa: E402


def timed(client: httpx.Client, path: str, repeat: int) -> tuple[float, float]:
    """(median, p95) milliseconds of GET `path`, after 3 warm-up requests; asserts 200."""
    for _ in range(3):
        assert client.get(path).status_code == 200
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text[:300]
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def _post(api: httpx.Client, run: str, name: str, seq: int, kind: str, data: dict) -> float:
    """Post one event of `run` (model `name` in alice/live); returns the time just before it left."""
    t = time.time()
    body = {"protocol": 1, "project": "alice/live", "model": name, "events": [
        {"seq": seq, "kind": kind, "time": t, "data": data}]}  # fmt: skip
    r = api.post(f"/stream/runs/{run}/events", json=body)
    assert r.status_code == 200, r.text
    return t


def measure_sse(site, streams: int, watch: int, epochs: int) -> list[float]:
    """Latencies in seconds from posting an epoch event to its point on a watched model page's chart."""
    import uuid

    from playwright.sync_api import sync_playwright

    from tests.platform.web.support import launch, new_page

    runs = {f"s{i:02d}": uuid.uuid4().hex for i in range(streams)}
    with site.api("alice") as api:
        assert api.post("/projects", json={"name": "live"}).status_code == 201
        for name, run in runs.items():
            _post(api, run, name, 1, "start", {"settings": {"epochs": epochs, "imgsz": 64}, "resumed": False})
    sent: dict[tuple[str, int], float] = {}
    with sync_playwright() as p, site.api("alice") as api:
        browser = launch(p)
        pages = {}
        for name in list(runs)[:watch]:
            page = new_page(browser, site, "alice")
            page.goto(f"/alice/live/models/{name}")
            page.wait_for_function("window.yfLive !== undefined")
            pages[name] = page
        for epoch in range(epochs):
            t_round = time.monotonic()
            for seq_name, run in runs.items():
                metrics = {"metrics/mAP50-95(B)": 0.01 * epoch, "train/box_loss": 2 - 0.05 * epoch}
                sent[seq_name, epoch] = _post(
                    api, run, seq_name, epoch + 2, "epoch", {"epoch": epoch, "metrics": metrics}
                )
            time.sleep(max(0.0, 1.0 - (time.monotonic() - t_round)))
        latencies = []
        for name, page in pages.items():
            page.wait_for_function(f"(window.yfDrawn || []).length >= {epochs}", timeout=30_000)
            for row in page.evaluate("window.yfDrawn"):
                latencies.append(row["at"] / 1000 - sent[name, row["epoch"]])
        browser.close()
    return sorted(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--sse", action="store_true", help="measure event-to-chart latency instead")
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--watch", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    if args.sse:
        with tempfile.TemporaryDirectory() as tmp:
            site = start_site(Path(tmp) / "home", users=("alice",))
            try:
                lat = measure_sse(site, args.streams, args.watch, args.epochs)
            finally:
                site.server.stop()
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(0.99 * len(lat)))]
        print(f"event-to-chart, {args.streams} models streaming, {args.watch} pages watched, {len(lat)} points: "
              f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms")  # fmt: skip
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        site = start_site(Path(tmp) / "home", users=("alice",))
        try:
            with site.api("alice") as api:
                assert api.post("/projects", json={"name": "big"}).status_code == 201
            rows = [{"metrics/mAP50-95(B)": 0.1 * e, "train/box_loss": 2.0 - 0.1 * e} for e in range(3)]
            t0 = time.perf_counter()
            seed_models(site.home, "alice", "big", [
                {"name": f"m{i:04d}", "status": "completed", "epochs": 3, "rows": rows,
                 "best": {"metrics/mAP50-95(B)": 0.2}} for i in range(args.models)
            ])  # fmt: skip
            print(f"seeded {args.models} models in {time.perf_counter() - t0:.1f} s")
            cookie = session_cookie(site, "alice")
            with httpx.Client(base_url=site.url, cookies={cookie["name"]: cookie["value"]}, timeout=30) as c:
                page = timed(c, "/alice/big", args.repeat)
                api = timed(c, "/api/v1/projects/alice/big/models?limit=100", args.repeat)
                html = c.get("/alice/big").text
            assert html.count("<tr>") >= 100, "the page should list 100 models"
            print(f"project page, {args.models} models (100 shown): median {page[0]:.1f} ms, p95 {page[1]:.1f} ms")
            print(f"  its models API call alone:          median {api[0]:.1f} ms, p95 {api[1]:.1f} ms")
        finally:
            site.server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
