"""Browser-test support: Debian's chromium through Playwright, a server process with two accounts, sign-in by
cookie, data seeded through the API (and model rows through the service layer, as streaming will write them),
and the axe-core check run on every page."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.platform.support.server import ServerProcess, run_cli, start_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
VENDOR = Path(__file__).resolve().parents[3] / "yoloforge" / "platform" / "web" / "static" / "vendor"
PASSWORD = "a long enough password"
BLOCKING = ("serious", "critical")


@dataclass
class Site:
    """The server process and its accounts' API keys (name -> train key)."""

    server: ServerProcess
    home: Path
    keys: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, user: str) -> httpx.Client:
        auth = {"Authorization": f"Bearer {self.keys[user]}"}
        return httpx.Client(
            base_url=f"{self.url}/api/v1", headers=auth, timeout=60, limits=httpx.Limits(keepalive_expiry=2)
        )  # under uvicorn's 5 s keep-alive


# the free local type, and a metered one on the same pool: a job on it is charged per epoch like a cloud GPU
CATALOG = """
pools:
  local-cpu: {executor: local, capacity: 2}
types:
  - {name: cpu, label: "CPU (local)", vram_gb: 0, speed: "slow: for trying things", hourly_usd: "0", pool: local-cpu}
  - {name: cpu-metered, label: "CPU (metered)", vram_gb: 0, speed: "slow", hourly_usd: "36", pool: local-cpu,
     peak_tflops: 0.3}
  - {name: h100-80gb, label: "H100 80GB", vram_gb: 80, speed: "fastest", hourly_usd: "3.99", pool: null}
"""


def start_site(
    home: Path, users: tuple[str, ...] = ("alice", "bob", "carol"), catalog_text: str | None = CATALOG
) -> Site:
    """Accounts made with `yoloforge server create-user/create-key` (carol gets $20 more with `top-up`), then the
    server started on them with `catalog_text` (None: the packaged GPU catalog)."""
    keys = {}
    for user in users:
        r = run_cli("server", "create-user", user, "--home", str(home), stdin=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr
        r = run_cli("server", "create-key", user, "--scope", "train", "--home", str(home))
        assert r.returncode == 0, r.stderr
        keys[user] = r.stdout.strip()
    if "carol" in users:
        r = run_cli("server", "top-up", "carol", "20", "--home", str(home))
        assert r.returncode == 0, r.stderr
    if catalog_text is None:
        return Site(start_server(home), home, keys)
    catalog = home.parent / "gpus.yaml"
    catalog.write_text(catalog_text)
    return Site(start_server(home, "--gpu-catalog", str(catalog)), home, keys)


def launch(playwright: Any) -> Any:
    """Debian's chromium, headless (Playwright's own browser downloads are not possible here)."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])


def session_cookie(site: Site, user: str) -> dict[str, Any]:
    """Sign in through the API and return the cookie, ready for `context.add_cookies`."""
    r = httpx.post(f"{site.url}/api/v1/auth/login", json={"name": user, "password": PASSWORD}, timeout=60)
    assert r.status_code == 200, r.text
    (cookie,) = [c for c in r.cookies.jar]
    return {"name": cookie.name, "value": cookie.value, "url": site.url}


def new_page(browser: Any, site: Site, user: str | None, *, width: int = 1280, dark: bool = False) -> Any:
    """A fresh browser context (signed in as `user` when given) and a page in it."""
    context = browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme="dark" if dark else "light", base_url=site.url
    )
    if user:
        context.add_cookies([session_cookie(site, user)])
    return context.new_page()


def assert_accessible(page: Any) -> None:
    """axe-core (from npm, in the vendor folder) finds no serious or critical violation on the page."""
    page.add_script_tag(path=str(VENDOR / "axe.min.js"))
    violations = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    bad = [v for v in violations if v.get("impact") in BLOCKING]
    lines = [f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes'][:3]]}" for v in bad]
    assert not bad, f"axe-core on {page.url}:\n" + "\n".join(lines)


def upload(site: Site, user: str, archive: Path, name: str, **form: str) -> dict[str, Any]:
    with open(archive, "rb") as f, site.api(user) as api:
        r = api.post("/datasets", files={"file": (archive.name, f)}, data={"name": name, **form}, timeout=120)
    assert r.status_code == 201, r.text
    return r.json()


def seed_models(home: Path, owner: str, project: str, runs: list[dict[str, Any]]) -> None:
    """Model rows with metrics written through the service layer, as the streaming service writes them.

    Each run: {"name", "status", "epochs": planned, "rows": [metrics dict per epoch], "best": {...},
    "checkpoints": {kind: path of a .pt file}, "billed": {"gpu": type, "rate": "USD/h", "epoch_seconds": s}}; a
    billed run is metered through the billing service as a cloud job would be (setup, one charge per epoch).
    """
    from sqlalchemy import select

    from yoloforge.platform.db import Project, User
    from yoloforge.platform.services import models
    from yoloforge.platform.settings import ServerSettings
    from yoloforge.platform.state import PlatformState

    state = PlatformState.build(ServerSettings(home=home))
    try:
        with state.db.sessions() as s:
            row = s.scalar(select(Project).join(User, Project.owner_id == User.id).where(
                User.name == owner, Project.name == project))  # fmt: skip
            for run in runs:
                m = models.create_model(
                    s, row, run["name"], source=run.get("source", "remote"), status=run["status"],
                    settings={"epochs": run["epochs"], "imgsz": 64, "model": "yolo11n.yaml"},
                )  # fmt: skip
                for epoch, metrics in enumerate(run.get("rows", [])):
                    models.record_epoch(s, m, epoch, metrics)
                m.best_metrics = run.get("best")
                m.started_at = run.get("started_at")
                m.ended_at = run.get("ended_at")
                for kind, path in run.get("checkpoints", {}).items():
                    with open(path, "rb") as f:
                        models.store_checkpoint(s, state.storage, m, kind, f, epoch=len(run.get("rows", [])) - 1)
                if "billed" in run:
                    _meter(s, row.owner_id, m, run)
            s.commit()
    finally:
        state.close()


def _meter(session: Any, user_id: int, model: Any, run: dict[str, Any]) -> None:
    """Charge `run` through billing's metering: running from started_at, 20 s of setup, then each epoch."""
    import datetime as dt
    from decimal import Decimal

    from yoloforge.platform.services import metering

    billed = run["billed"]
    facts = metering.JobFacts(job_id=100_000 + model.id, account_id=user_id, model_id=model.id,
                              gpu_type=billed["gpu"], rate_per_hour=Decimal(billed["rate"]), attempt=1)  # fmt: skip
    t = run.get("started_at") or dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    metering.on_transition(session, facts, None, "running", t)
    t += dt.timedelta(seconds=20)
    for epoch in range(len(run.get("rows", []))):
        t += dt.timedelta(seconds=billed["epoch_seconds"])
        metering.on_epoch_end(session, model, epoch, t)
    if run["status"] != "running":
        metering.on_transition(session, facts, "running", run["status"], t + dt.timedelta(seconds=3))
