"""Billing of cloud jobs with a real server process and a paid test GPU type served by the local `cpu` pool:
the start minimum refuses with the balance and the amount needed, an admin top-up lets the job start, the
job's charges add up to rate x measured running seconds within a cent; a job killed before its first epoch
costs $0; a pay-per-job account pays once, at completion; running out of credit pauses, a top-up resumes.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from tests.platform.support.jobs import client, make_user, setup_project, submit, wait_state
from tests.platform.support.server import clean_env, start_server

CATALOG = """
pools:
  local-cpu: {executor: local, capacity: 2}
types:
  - {name: cpu, label: "CPU (local)", vram_gb: 0, speed: slow, hourly_usd: "0", pool: local-cpu}
  - {name: cpu-paid, label: "CPU billed like a GPU (tests)", vram_gb: 0, speed: slow, hourly_usd: "36.00",
     pool: local-cpu}
"""


def _paid_server(tmp_path: Path, **env: str):
    """(home, server with CATALOG and `env`, alice's client, root's admin client)."""
    home = tmp_path / "home"
    key = make_user(home, "alice")
    admin_key = make_user(home, "root", admin=True)
    catalog = tmp_path / "gpus.yaml"
    catalog.write_text(CATALOG)
    server = start_server(home, "--gpu-catalog", str(catalog), env=clean_env(**env))
    return home, server, client(server.url, key), client(server.url, admin_key)


def test_paid_job_is_gated_then_charged_for_its_running_time(tmp_path: Path, coco8_zip: Path) -> None:
    _, server, c, admin = _paid_server(tmp_path, YOLOFORGE_SERVER_MIN_START_BALANCE="8.00")
    try:
        setup_project(c, coco8_zip)
        r = submit(c, "alice", "paid", gpu="cpu-paid")
        assert r.status_code == 402, r.text
        assert "balance $5.00 is below the $8.00 needed" in r.json()["detail"]
        r = admin.post("/billing/top-ups", json={"user": "alice", "amount": "10", "note": "test credit"})
        assert r.status_code == 201, r.text
        assert submit(c, "alice", "paid", gpu="cpu-paid").status_code == 201
        j = wait_state(c, "alice", "paid", {"completed", "failed", "stopped", "cancelled", "paused"}, timeout=400)
        assert j["state"] == "completed", j
        times = {t["to_state"]: dt.datetime.fromisoformat(t["at"]) for t in j["transitions"]}
        running_s = Decimal(str((times["completed"] - times["running"]).total_seconds()))
        charges = [e for e in c.get("/billing/ledger").json()["items"] if e["kind"] == "charge"]
        total = -sum(Decimal(e["amount"]) for e in charges)
        assert abs(total - Decimal("36.00") * running_s / 3600) <= Decimal("0.01"), (total, running_s)
        cost = c.get("/projects/alice/demo/models/paid/cost").json()
        assert Decimal(cost["total_cost"]) == total and Decimal(cost["gpu_seconds"]) == running_s.quantize(
            Decimal("0.001")
        )
        assert c.get("/billing").json()["balance"] == str(Decimal("15.00") - total)
    finally:
        c.close()
        admin.close()
        server.stop()


def _trainer_pids(home: Path) -> list[int]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmd = proc.info["cmdline"] or []
            if "yoloforge" in cmd and "train" in cmd and str(home) in (proc.info["cwd"] or ""):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def test_crash_before_the_first_epoch_is_free_and_pay_per_job_pays_once(tmp_path: Path, coco8_zip: Path) -> None:
    import os
    import signal
    import time

    home, server, c, admin = _paid_server(tmp_path, YOLOFORGE_SERVER_MAX_RESTARTS="0")
    try:
        setup_project(c, coco8_zip)
        assert submit(c, "alice", "crash", gpu="cpu-paid", imgsz=320).status_code == 201
        wait_state(c, "alice", "crash", {"running"}, timeout=300)
        deadline = time.monotonic() + 60
        while not (pids := _trainer_pids(home)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.get("/projects/alice/demo/models/crash").json()["epochs_done"] == 0
        os.kill(pids[0], signal.SIGKILL)
        j = wait_state(c, "alice", "crash", {"completed", "failed", "stopped", "cancelled", "paused"}, timeout=120)
        assert j["state"] == "failed", j
        assert c.get("/billing").json()["balance"] == "5.00"  # the running time before the crash is free
        assert c.get("/projects/alice/demo/models/crash/cost").json()["total_cost"] == "0.00"
        r = admin.patch("/billing/accounts/alice", json={"pay_per_job": True})
        assert r.status_code == 200 and r.json()["pay_per_job"] is True
        assert submit(c, "alice", "ppj", gpu="cpu-paid").status_code == 201
        j = wait_state(c, "alice", "ppj", {"completed", "failed", "stopped", "cancelled", "paused"}, timeout=400)
        assert j["state"] == "completed", j
        entries = c.get("/billing/ledger").json()["items"]
        payments = [e for e in entries if e["kind"] in ("charge", "payment")]
        assert [e["kind"] for e in payments] == ["payment"]  # one row, at completion
        cost = c.get("/projects/alice/demo/models/ppj/cost").json()
        assert Decimal(payments[0]["amount"]) == -Decimal(cost["total_cost"]) != 0
    finally:
        c.close()
        admin.close()
        server.stop()


# $10 per running second: the time before the first epoch (starting the worker, >= 1 s on any machine) already costs
# more than the $5 welcome credit, so the balance cannot cover a second epoch however fast epochs are (at $1/s, a
# machine running coco8 epochs in 0.3 s finished all three on the credit)
RATE = Decimal("36000")
PRICEY = CATALOG.replace('hourly_usd: "36.00"', f'hourly_usd: "{RATE}"')


def test_out_of_credit_pauses_then_resumes_after_a_top_up(tmp_path: Path, coco8_zip: Path) -> None:
    """A paid job whose balance runs out pauses after that epoch (its epochs reach billing through the worker's
    stream and the run hooks), resumes after a top-up, and ends with every epoch trained and charged once."""
    home = tmp_path / "home"
    key = make_user(home, "alice")
    admin_key = make_user(home, "root", admin=True)
    catalog = tmp_path / "gpus.yaml"
    catalog.write_text(PRICEY)
    server = start_server(home, "--gpu-catalog", str(catalog))
    c, admin = client(server.url, key), client(server.url, admin_key)
    ended = {"completed", "failed", "stopped", "cancelled", "paused"}
    try:
        setup_project(c, coco8_zip)
        assert c.patch("/billing", json={"auto_resume": True}).json()["auto_resume"] is True
        assert submit(c, "alice", "m", gpu="cpu-paid", epochs=3).status_code == 201
        j = wait_state(c, "alice", "m", ended, timeout=400)
        assert j["state"] == "paused", j
        assert "cannot cover the next epoch" in j["transitions"][-1]["reason"], j["transitions"][-1]
        done = c.get("/projects/alice/demo/models/m").json()["epochs_done"]
        assert 1 <= done < 3
        balance = Decimal(c.get("/billing").json()["balance"])
        charges = [e for e in c.get("/billing/ledger").json()["items"] if e["kind"] == "charge"]  # newest first
        last = charges[0]
        assert last["description"].startswith("epoch ") and "partial" not in last["description"], last  # paused at
        assert Decimal(last["balance_after"]) == balance  # the end of that epoch: nothing charged after it
        epochs = [e for e in reversed(charges) if e["description"].startswith("epoch ")]  # oldest first
        for e in epochs[:-1]:  # after each earlier epoch the balance covered one more like it: the job ran on
            assert Decimal(e["balance_after"]) >= -Decimal(e["amount"]), e
        assert Decimal(epochs[-1]["balance_after"]) < -Decimal(epochs[-1]["amount"])  # after this one it did not
        r = admin.post("/billing/top-ups", json={"user": "alice", "amount": "500"})
        assert r.status_code == 201
        j = wait_state(c, "alice", "m", {"completed", "failed", "stopped", "cancelled"}, timeout=400)
        assert j["state"] == "completed", j
        m = c.get("/projects/alice/demo/models/m").json()
        assert [r["epoch"] for r in m["metrics"]] == [0, 1, 2]  # every epoch once (the trainer's 0-based index)
        cost = c.get("/projects/alice/demo/models/m/cost").json()
        epoch_ends = [dt.datetime.fromisoformat(r["ended_at"]) for r in cost["rows"] if r["kind"] == "epoch"]
        running, start = Decimal(0), None
        for t in j["transitions"]:
            at = dt.datetime.fromisoformat(t["at"])
            if t["to_state"] == "running":
                start = at
            elif start is not None:
                if t["to_state"] == "paused":  # billed up to the epoch end where billing decided to pause
                    at = max(e for e in epoch_ends if e <= at)
                running += Decimal(str((at - start).total_seconds()))
                start = None
        assert {r["epoch"] for r in cost["rows"] if r["kind"] == "epoch"} == {0, 1, 2}
        # within 10 ms of running time (as at the old $1/s: one cent), plus each row's rounding to the cent
        slack = RATE / 3600 / 100 + Decimal("0.005") * len(cost["rows"])
        assert abs(Decimal(cost["total_cost"]) - RATE * running / 3600) <= slack, (cost, running)
        charges = [e for e in c.get("/billing/ledger?limit=200").json()["items"] if e["kind"] == "charge"]
        assert -sum(Decimal(e["amount"]) for e in charges) == Decimal(cost["total_cost"])
    finally:
        c.close()
        admin.close()
        server.stop()
