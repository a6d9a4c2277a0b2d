"""Cloud jobs: submit-to-running and stop-to-released latency on a real server, and the scheduler's throughput.

    .venv/bin/python bench/platform_jobs.py [--queued 1000] [--repeat 3] [--no-latency] [--no-postgres]

- latency: `yoloforge server` as a process (SQLite, the local executor, the `cpu` type), coco8 uploaded; each
  repeat submits a tiny run (64 px, from scratch) and times POST .../models until the job is `running` (the
  worker started, fetched the dataset and launched the trainer), then POST .../stop until the job is `stopped`
  and GET /gpus shows the slot free again (the trainer finished its batch, wrote last.pt and exited).
- throughput: --queued jobs waiting (100 accounts, FIFO per type, quotas and pool capacity large enough for
  all), placed one database transaction each with `scheduler.place_one` (the placement lock, the slot and quota
  counts, the FIFO pick, the `starting` transition row and the job's token); workers are not launched, so this
  is the database's cost of a placement. SQLite, and PostgreSQL when its binaries are installed.
The machine is shared: each latency is the median of --repeat runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platform.support.jobs import TINY, client, make_user, setup_project  # noqa: E402
from tests.platform.support.server import start_server  # noqa: E402


def latency(tmp: Path, repeat: int) -> tuple[list[float], list[float]]:
    """(submit -> running seconds, stop -> slot released seconds) per repeat."""
    from yoloforge.platform.bootstrap import coco8_zip

    home = tmp / "home"
    key = make_user(home, "bench")
    archive = tmp / "coco8.zip"
    archive.write_bytes(coco8_zip())
    server = start_server(home)
    c = client(server.url, key)
    to_running, to_released = [], []
    try:
        setup_project(c, archive)
        for i in range(repeat):
            name = f"run{i}"
            t0 = time.perf_counter()
            assert c.post("/projects/bench/demo/models", json={**TINY, "name": name, "dataset": "bench/coco8",
                                                               "epochs": 50}).status_code == 201  # fmt: skip
            url = f"/projects/bench/demo/models/{name}"
            while c.get(f"{url}/job").json()["state"] != "running":
                time.sleep(0.02)
            to_running.append(time.perf_counter() - t0)
            while c.get(url).json()["epochs_done"] < 1:  # stop mid-training, as a user would
                time.sleep(0.1)
            t0 = time.perf_counter()
            assert c.post(f"{url}/stop").status_code == 200
            while c.get(f"{url}/job").json()["state"] != "stopped" or c.get("/gpus").json()[0]["free"] != 2:
                time.sleep(0.02)
            to_released.append(time.perf_counter() - t0)
    finally:
        c.close()
        server.stop()
    return to_running, to_released


def throughput(url: str, queued: int) -> float:
    """Jobs placed per second with `queued` waiting."""
    from sqlalchemy import select

    from yoloforge.platform.db import Job, Model, Project, User
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.db.session import Database
    from yoloforge.platform.gpus import Catalog, GpuType, Pool
    from yoloforge.platform.services import scheduler

    db = Database(url)
    upgrade(db.engine)
    catalog = Catalog(pools={"big": Pool(capacity=queued)}, types=[GpuType(name="cpu", vram_gb=0, hourly_usd=0,
                                                                            pool="big")])  # fmt: skip
    with db.sessions() as s:
        users = [User(name=f"u{i}", password_hash="x") for i in range(100)]
        s.add_all(users)
        s.flush()
        projects = [Project(owner_id=u.id, name="p") for u in users]
        s.add_all(projects)
        s.flush()
        for i in range(queued):
            p = projects[i % len(projects)]
            m = Model(project_id=p.id, name=f"m{i}", source="cloud", status="pending", settings={})
            s.add(m)
            s.flush()
            s.add(Job(model_id=m.id, user_id=p.owner_id, gpu_type="cpu", state="queued"))
        s.commit()
    t0 = time.perf_counter()
    placed = 0
    while True:
        with db.sessions() as s:
            if scheduler.place_one(s, catalog, default_quota=queued) is None:
                break
            s.commit()
            placed += 1
    seconds = time.perf_counter() - t0
    with db.sessions() as s:
        assert len(list(s.scalars(select(Job.id).where(Job.state == "starting")))) == placed == queued
    db.dispose()
    return placed / seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queued", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-postgres", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.no_latency:
            run, rel = latency(tmp, args.repeat)
            print(f"submit -> running:        median {statistics.median(run):6.2f} s  (runs: "
                  f"{', '.join(f'{x:.2f}' for x in run)})")  # fmt: skip
            print(f"stop -> slot released:    median {statistics.median(rel):6.2f} s  (runs: "
                  f"{', '.join(f'{x:.2f}' for x in rel)})")  # fmt: skip
        rate = throughput(f"sqlite:///{tmp / 'bench.db'}", args.queued)
        print(f"scheduler, SQLite:        {rate:8.1f} jobs placed/s with {args.queued} queued")
        if not args.no_postgres:
            from tests.platform.support.postgres import find_bin_dir, start_cluster

            bin_dir = find_bin_dir()
            if bin_dir is None:
                print("scheduler, PostgreSQL:    skipped (no PostgreSQL binaries)")
                return
            cluster = start_cluster(bin_dir)
            try:
                rate = throughput(cluster.url(cluster.create_database()), args.queued)
                print(f"scheduler, PostgreSQL:    {rate:8.1f} jobs placed/s with {args.queued} queued")
            finally:
                cluster.stop()


if __name__ == "__main__":
    main()
