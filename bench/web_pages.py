"""Server time of the web pages, against a real `yoloforge server` process on 127.0.0.1.

    .venv/bin/python bench/web_pages.py [--models 1000] [--repeat 30]

Seeds one project with --models models (each with 3 epochs of metrics, written through the service layer as
streaming writes them), then times GET /<owner>/<project> (the project page: 100 models a page, rendered from
the JSON API called in-process) as the signed-in browser would fetch it, and the same page's JSON API call on
its own for comparison. Figures: median and p95 of --repeat requests after 3 warm-ups, in ms. Target: project
page < 200 ms. (Event-to-chart latency with 20 models streaming needs the SSE stream of issue 11: see
measure_sse_latency once it is merged.)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
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
