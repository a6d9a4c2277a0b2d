"""Metering throughput: epoch charges per second through `metering.on_epoch_end` (account lock, usage row,
ledger row, pause check, commit), one writer and 8 concurrent writers on one account, SQLite and PostgreSQL.

    .venv/bin/python bench/platform_billing.py [--epochs 500] [--threads 8]

PostgreSQL is a throwaway cluster (as in the tests) when pg_ctl is installed. After the concurrent run the
ledger is checked: the balance is the sum and every balance_after is the running sum.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platform.support.billing import at, job_facts, make_model, make_user  # noqa: E402
from tests.platform.support.postgres import find_bin_dir, start_cluster  # noqa: E402


def bench(url: str, epochs: int, threads: int) -> tuple[float, float]:
    """(charges/s with one writer, charges/s with `threads` writers on the same account)."""
    from sqlalchemy import select

    from yoloforge.platform.db import LedgerEntry
    from yoloforge.platform.db.migrate import upgrade
    from yoloforge.platform.db.session import Database
    from yoloforge.platform.services import ledger, metering

    db = Database(url)
    upgrade(db.engine)
    with db.sessions() as s:
        user = make_user(s, "bench", welcome_cents=10**9)
        jobs = [job_facts(user, make_model(s, user, f"m{i}"), rate="3.99") for i in range(threads + 1)]
        for job in jobs:
            metering.on_transition(s, job, None, "running", at(0))
        s.commit()

    def run(job, n: int) -> None:
        for epoch in range(n):
            with db.session() as s:
                metering.on_epoch_end(s, job, epoch, at(epoch + 1))

    t0 = time.perf_counter()
    run(jobs[0], epochs)
    single = epochs / (time.perf_counter() - t0)
    per = epochs // threads
    workers = [threading.Thread(target=run, args=(job, per)) for job in jobs[1:]]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    concurrent = per * threads / (time.perf_counter() - t0)
    with db.sessions() as s:
        rows = list(s.scalars(select(LedgerEntry).where(LedgerEntry.account_id == user.id).order_by(LedgerEntry.id)))
        running = 0
        for row in rows:
            running += row.amount_cents
            assert row.balance_after_cents == running
        assert ledger.balance_cents(s, user.id) == running and len(rows) == 1 + epochs + per * threads
    db.dispose()
    return single, concurrent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        urls = {"sqlite": f"sqlite:///{Path(tmp) / 'bench.db'}"}
        cluster = start_cluster(find_bin_dir()) if find_bin_dir() else None
        if cluster is not None:
            urls["postgresql"] = cluster.url(cluster.create_database())
        try:
            for name, url in urls.items():
                single, concurrent = bench(url, args.epochs, args.threads)
                print(f"{name:10s} epoch charges/s: {single:7.0f} (1 writer)  {concurrent:7.0f} "
                      f"({args.threads} writers, one account; ledger checked exact)")  # fmt: skip
        finally:
            if cluster is not None:
                cluster.stop()


if __name__ == "__main__":
    main()
