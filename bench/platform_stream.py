"""Streaming figures of the platform: ingestion rate, event-to-SSE latency under load, training overhead.

    .venv/bin/python bench/platform_stream.py [--events 20000] [--runs 200] [--seconds 20] [--intervals 5 2 1]
                                              [--epochs 20] [--repeats 3] [--outage 60] [--skip ingest,sse,train,outage]

- ingest: epoch events stored per second through POST /api/v1/stream/runs/{run}/events (batches of 100,
  4 client threads, each its own run) against `yoloforge server` as a process, on SQLite and, when
  PostgreSQL binaries are installed, on a throwaway PostgreSQL cluster.
- sse: --runs runs each post one event every --intervals s on their own clocks (batch progress: the client sends
  it at most once a second, the busiest stream) while one SSE subscriber per model reads; latency =
  the subscriber's receive time minus the event's send time (same clock), p50/p99 over --seconds.
- train: `yoloforge train` (coco8, imgsz 64, --epochs) without and with streaming, --repeats each, interleaved,
  medians: the training loop's time (results.csv) gives the overhead = with / without - 1; the process's wall
  time adds the fixed costs (connecting, uploading the final checkpoints before exit).
- outage: a streamed run whose server is killed for --outage s in the middle; prints whether every epoch,
  console line and checkpoint arrived once, and the training time against the unstreamed one.
Targets on 2 cores: >= 2,000 epoch events/s on SQLite, p99 < 250 ms, overhead < 2%.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platform.support.server import clean_env, run_cli, start_server  # noqa: E402

TRAIN = ["detect", "train", "data=coco8.yaml", "model=yolov8n.yaml", "imgsz=64", "batch=2", "workers=0",
         "device=cpu", "plots=False"]  # fmt: skip


def account(home: Path, name: str = "alice", env: dict[str, str] | None = None) -> str:
    run_cli("server", "create-user", name, "--home", str(home), stdin="a long enough password\n", env=env)
    return run_cli("server", "create-key", name, "--home", str(home), env=env).stdout.strip()


def ingest_rate(url: str, key: str, total: int, threads: int = 4, batch: int = 100) -> float:
    """Epoch events stored per second (each thread one run, batches of `batch`)."""
    per = total // threads

    def one(i: int) -> None:
        run = uuid.uuid4().hex
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60) as c:
            seq = 1
            events = [{"seq": seq, "kind": "start", "time": time.time(), "data": {}}]
            while seq <= per:
                while len(events) < batch and seq <= per:
                    seq += 1
                    events.append({"seq": seq, "kind": "epoch", "time": time.time(), "data": {
                        "epoch": seq, "metrics": {"train/box_loss": 1.0, "metrics/mAP50-95(B)": 0.5, "fitness": 0.5,
                                                  "best_fitness": 0.5}}})  # fmt: skip
                body = {"protocol": 1, "project": "alice/bench", "model": f"ingest-{i}", "events": events}
                r = c.post(f"{url}/api/v1/stream/runs/{run}/events", json=body)
                r.raise_for_status()
                events = []

    t0 = time.perf_counter()
    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return per * threads / (time.perf_counter() - t0)


async def sse_latency(url: str, key: str, runs: int, seconds: float, interval: float = 1.0) -> tuple[list[float], int]:
    """Latencies (s) of events from `runs` concurrent posters (one event every `interval` s each) to one SSE
    subscriber each, and how many events were sent.

    Each run posts on its own clock (due times k * interval, spread over the interval), as a trainer does: a slow
    reply delays that run's next event but does not move its schedule. The client is aiohttp: on the same 2 cores,
    httpx's async client spent ~70% of a core on 400 connections and its own delays were most of the figure."""
    import aiohttp

    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}, connector=connector,
                                     timeout=timeout) as c:  # fmt: skip
        keys = [uuid.uuid4().hex for _ in range(runs)]
        for i, run in enumerate(keys):  # each model exists before its subscriber connects
            body = {"protocol": 1, "project": "alice/sse", "model": f"m{i}",
                    "events": [{"seq": 1, "kind": "start", "time": time.time(), "data": {}}]}  # fmt: skip
            async with c.post(f"{url}/api/v1/stream/runs/{run}/events", json=body) as r:
                r.raise_for_status()
        stop = float("inf")
        sent, connected = [0], [0]
        all_connected = asyncio.Event()

        async def subscribe(i: int) -> None:
            async with c.get(f"{url}/api/v1/projects/alice/sse/models/m{i}/events",
                             headers={"Last-Event-ID": "1"}) as r:  # fmt: skip
                connected[0] += 1
                if connected[0] == runs:
                    all_connected.set()
                async for line in r.content:
                    if line.startswith(b"data: "):
                        at = json.loads(line[6:])["data"].get("sent")
                        if at is not None:
                            latencies.append(time.time() - at)

        async def post(i: int, run: str) -> None:
            seq, due = 1, time.monotonic() + interval * i / runs  # spread evenly over the interval
            while True:
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                due += interval
                if time.monotonic() >= stop:
                    return
                seq += 1
                body = {"protocol": 1, "project": "alice/sse", "model": f"m{i}",
                        "events": [{"seq": seq, "kind": "progress", "time": time.time(),
                                    "data": {"sent": time.time()}}]}  # fmt: skip
                try:
                    async with c.post(f"{url}/api/v1/stream/runs/{run}/events", json=body) as r:
                        await r.read()
                        sent[0] += r.status == 200
                except aiohttp.ClientError:
                    pass  # counted as not sent: the figure says how many of the events were

        subs = [asyncio.create_task(subscribe(i)) for i in range(runs)]
        await asyncio.wait_for(all_connected.wait(), timeout=120)  # steady state: every subscriber is listening
        stop = time.monotonic() + seconds
        await asyncio.gather(*(post(i, k) for i, k in enumerate(keys)))
        await asyncio.sleep(2)
        for s in subs:
            s.cancel()
        await asyncio.gather(*subs, return_exceptions=True)
    return latencies, sent[0]


def train_time(cwd: Path, epochs: int, env: dict[str, str], name: str) -> tuple[float, float]:
    """(wall seconds of the process, seconds of its training loop: results.csv's last `time`)."""
    streamed = "YOLOFORGE_API_KEY" in env
    project = cwd / "alice" / "overhead" if streamed else cwd / "local"
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "yoloforge", *TRAIN, f"epochs={epochs}", f"name={name}",
                        "project=alice/overhead" if streamed else f"project={project}"],
                       cwd=cwd, env=env, capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        raise SystemExit(r.stderr[-2000:])
    wall = time.perf_counter() - t0
    with open(project / name / "results.csv") as f:
        loop = float(list(csv.DictReader(f))[-1]["time"])
    return wall, loop


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else float("nan")


def bench_ingest(tmp: Path, total: int) -> None:
    home = tmp / "ingest-sqlite"
    key = account(home)
    server = start_server(home)
    try:
        ingest_rate(server.url, key, 400)  # warm-up
        print(f"ingest  SQLite:     {ingest_rate(server.url, key, total):8.0f} epoch events/s", flush=True)
    finally:
        server.stop()
    from tests.platform.support.postgres import find_bin_dir, start_cluster

    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("ingest  PostgreSQL: skipped (no PostgreSQL binaries)")
        return
    cluster = start_cluster(bin_dir)
    try:
        url = cluster.url(cluster.create_database())
        home = tmp / "ingest-pg"
        env = clean_env(YOLOFORGE_SERVER_DATABASE_URL=url)
        run_cli("server", "create-user", "alice", "--home", str(home), stdin="a long enough password\n", env=env)
        key = run_cli("server", "create-key", "alice", "--home", str(home), env=env).stdout.strip()
        server = start_server(home, env=env)
        try:
            ingest_rate(server.url, key, 400)
            print(f"ingest  PostgreSQL: {ingest_rate(server.url, key, total):8.0f} epoch events/s", flush=True)
        finally:
            server.stop()
    finally:
        cluster.stop()


def bench_sse(tmp: Path, runs: int, seconds: float, interval: float, db_url: str | None = None) -> None:
    home = tmp / f"sse-{interval}-{'pg' if db_url else 'sqlite'}"
    env = clean_env(YOLOFORGE_SERVER_DATABASE_URL=db_url) if db_url else None
    key = account(home, env=env)
    server = start_server(home, env=env)
    try:
        lat, sent = asyncio.run(sse_latency(server.url, key, runs, seconds, interval))
    finally:
        server.stop()
    print(f"sse     {'PostgreSQL' if db_url else 'SQLite'}, {runs} runs, an event every {interval:g} s each "
          f"({runs / interval:.0f} requests/s): "
          f"{len(lat)} of {sent} events received, p50 {percentile(lat, 50) * 1000:.0f} ms, "
          f"p99 {percentile(lat, 99) * 1000:.0f} ms", flush=True)  # fmt: skip


def bench_sse_postgres(tmp: Path, runs: int, seconds: float, intervals: list[float]) -> None:
    """The SSE figures with the server on a throwaway PostgreSQL cluster (no single writer: runs write apart)."""
    from tests.platform.support.postgres import find_bin_dir, start_cluster

    bin_dir = find_bin_dir()
    if bin_dir is None:
        print("sse     PostgreSQL: skipped (no PostgreSQL binaries)")
        return
    cluster = start_cluster(bin_dir)
    try:
        for interval in intervals:
            bench_sse(tmp, runs, seconds, interval, cluster.url(cluster.create_database()))
    finally:
        cluster.stop()


def bench_train(tmp: Path, epochs: int, outage: float | None, repeats: int = 3) -> None:
    home = tmp / "train"
    key = account(home)
    server = start_server(home)
    try:
        env_off = clean_env()
        env_on = clean_env(YOLOFORGE_PLATFORM_URL=server.url, YOLOFORGE_API_KEY=key)
        offs, ons = [], []
        for i in range(repeats):  # interleaved, so a slow spell of the machine hits both alike
            offs.append(train_time(tmp, epochs, env_off, f"off{i}"))
            ons.append(train_time(tmp, epochs, env_on, f"on{i}"))
        loop_off, loop_on = (statistics.median(x for _, x in runs) for runs in (offs, ons))
        off, on = (statistics.median(w for w, _ in runs) for runs in (offs, ons))
        spread = max(x for _, x in offs) / min(x for _, x in offs) - 1
        print(f"train   {epochs} epochs, median of {repeats} interleaved: training loop {loop_off:.2f} s without "
              f"streaming, {loop_on:.2f} s with: overhead {(loop_on / loop_off - 1) * 100:+.1f}% (unstreamed runs "
              f"alone vary by {spread * 100:.1f}%); whole process {off:.2f} s / {on:.2f} s ({on - off:+.2f} s: "
              f"connecting, and the final checkpoints uploaded before it exits)", flush=True)  # fmt: skip
    finally:
        server.stop()
    if outage:
        bench_outage(tmp, epochs, outage, off / epochs)


def bench_outage(tmp: Path, epochs: int, outage: float, per_epoch: float) -> None:
    home = tmp / "outage"
    key = account(home)
    server = start_server(home)
    port = int(server.url.rsplit(":", 1)[1])
    env = clean_env(YOLOFORGE_PLATFORM_URL=server.url, YOLOFORGE_API_KEY=key)
    epochs = max(epochs, 4)
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "yoloforge", *TRAIN, f"epochs={epochs * 10}", "name=outage",
                             "project=alice/outage"], cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    auth = {"Authorization": f"Bearer {key}"}
    base = f"{server.url}/api/v1/projects/alice/outage/models/outage"
    while True:
        r = httpx.get(f"{base}/metrics", headers=auth)
        if r.status_code == 200 and r.json()["items"]:
            break
        time.sleep(0.5)
    server.proc.kill()
    server.proc.wait()
    time.sleep(outage)
    server = start_server(home, port=port)
    try:
        code = proc.wait()
        took = time.perf_counter() - t0
        time.sleep(1)
        metrics = httpx.get(f"{base}/metrics", headers=auth).json()["items"]
        model = httpx.get(base, headers=auth).json()
        lines = httpx.get(f"{base}/console?limit=5000", headers=auth).json()["lines"]
        spool = list((tmp / "alice" / "outage" / "outage" / "platform" / "spool").glob("*_*/0*"))
        epochs_ok = [m["epoch"] for m in metrics] == list(range(epochs * 10))
        once = sum("Training for" in line["text"] for line in lines) == 1
        print(f"outage  {outage:.0f} s server outage: exit {code}, status {model['status']}, every epoch once "
              f"{epochs_ok}, console once {once}, checkpoints {sorted(c['kind'] for c in model['checkpoints'])}, "
              f"spool left {len(spool)}; training {took:.1f} s for {epochs * 10} epochs "
              f"(unstreamed {per_epoch * epochs * 10:.1f} s expected)", flush=True)  # fmt: skip
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument(
        "--intervals",
        type=float,
        nargs="+",
        default=[5.0, 2.0, 1.0],
        help="seconds between one run's events (the client sends progress at most every 1 s)",
    )
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3, help="training runs with and without streaming (interleaved)")
    ap.add_argument("--outage", type=float, default=0.0, help="seconds of server outage (0: skip)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: ingest,sse,train")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("YOLOFORGE_CONFIG_DIR", tempfile.mkdtemp(prefix="yf-bench-config-"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if "ingest" not in skip:
            bench_ingest(tmp, args.events)
        if "sse" not in skip:
            for interval in args.intervals:
                bench_sse(tmp, args.runs, args.seconds, interval)
            bench_sse_postgres(tmp, args.runs, args.seconds, args.intervals)
        if "train" not in skip:
            bench_train(tmp, args.epochs, args.outage or None, args.repeats)


if __name__ == "__main__":
    main()
