"""The billing routes: summary, ledger, admin top-ups and plans, the CSV report (equal to the ledger), a
model's cost (its owner only), estimates; and `yoloforge server top-up`."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from tests.platform.conftest import make_account
from tests.platform.support.billing import at, job_facts


def _bill_a_job(app, owner: str, project: str, model_name: str, *, visibility: str = "private"):
    """A model of `owner` with a 3-epoch job on a $36/h type (1 cent/s) metered through the services."""
    from yoloforge.platform.db import Project, User
    from yoloforge.platform.services import metering, models

    with app.state.platform.db.sessions() as s:
        user = s.query(User).filter_by(name=owner).one()
        proj = Project(owner_id=user.id, name=project, visibility=visibility, description="")
        s.add(proj)
        s.commit()
        model = models.create_model(s, proj, model_name, source="cloud")
        facts = job_facts(user, model, rate="36.00")
        metering.on_transition(s, facts, None, "running", at(0))
        for epoch, t in enumerate((40, 70.5, 101.25)):
            metering.on_epoch_end(s, model, epoch, at(t))
        metering.on_transition(s, facts, "running", "completed", at(102))
        s.commit()
        return facts.job_id


def test_new_account_summary_and_ledger(client, alice) -> None:
    r = client.get("/api/v1/billing", headers=alice.auth("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["balance"] == "5.00" and body["welcome_credit"] == "5.00" and body["min_start_balance"] == "5.00"
    assert body["can_start_paid"] is True and body["pay_per_job"] is False and body["month_spend"] == "0.00"
    page = client.get("/api/v1/billing/ledger", headers=alice.auth("read")).json()
    assert page["total"] == 1 and page["items"][0]["kind"] == "grant" and page["items"][0]["amount"] == "5.00"
    r = client.patch("/api/v1/billing", headers=alice.auth(), json={"auto_resume": True})
    assert r.status_code == 200 and r.json()["auto_resume"] is True


def test_admin_top_up_refund_and_plan(app, client, alice) -> None:
    root = make_account(app, "root", admin=True)
    r = client.post("/api/v1/billing/top-ups", headers=root.auth("admin"),
                    json={"user": "alice", "amount": "10.50", "note": "invoice 12", "key": "inv-12"})  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["balance_after"] == "15.50" and r.json()["kind"] == "top_up"
    again = client.post("/api/v1/billing/top-ups", headers=root.auth("admin"),
                        json={"user": "alice", "amount": "10.50", "key": "inv-12"})  # fmt: skip
    assert again.json()["id"] == r.json()["id"]  # a retried request adds nothing
    r = client.post("/api/v1/billing/refunds", headers=root.auth("admin"), json={"user": "alice", "amount": "0.25"})
    assert r.json()["balance_after"] == "15.75"
    bad = client.post("/api/v1/billing/top-ups", headers=root.auth("admin"), json={"user": "alice", "amount": "1.005"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "amount"
    missing = client.post("/api/v1/billing/top-ups", headers=root.auth("admin"), json={"user": "zed", "amount": "1"})
    assert missing.status_code == 404 and "zed" in missing.json()["detail"]
    r = client.patch("/api/v1/billing/accounts/alice", headers=root.auth("admin"), json={"pay_per_job": True})
    assert r.json() == {"user": "alice", "balance": "15.75", "pay_per_job": True, "auto_resume": False}
    assert client.get("/api/v1/billing", headers=alice.auth()).json()["pay_per_job"] is True


def test_welcome_credit_is_a_setting(tmp_path, db_url) -> None:
    from fastapi.testclient import TestClient

    from yoloforge.platform.app import create_app
    from yoloforge.platform.settings import ServerSettings

    settings = ServerSettings(home=tmp_path / "h", database_url=db_url, welcome_credit=Decimal("0"),
                              min_start_balance=Decimal("20"))  # fmt: skip
    app = create_app(settings)
    try:
        root = make_account(app, "root", admin=True)
        with TestClient(app) as client:
            r = client.post("/api/v1/users", headers=root.auth("admin"), json={"name": "newbie", "password": "x" * 9})
            assert r.status_code == 201
            new = make_account(app, "carl")  # the service default when no amount is given: $5
            assert client.get("/api/v1/billing", headers=new.auth()).json()["balance"] == "5.00"
            body = client.get("/api/v1/billing", headers=root.auth()).json()
            assert body["min_start_balance"] == "20.00" and body["welcome_credit"] == "0.00"
            assert client.get("/api/v1/billing/accounts/newbie", headers=root.auth("admin")).json()["balance"] == "0.00"
    finally:
        app.state.platform.close()


def test_csv_report_equals_the_ledger(app, client, alice) -> None:
    root = make_account(app, "root", admin=True)
    client.post("/api/v1/billing/top-ups", headers=root.auth("admin"),
                json={"user": "alice", "amount": "2", "note": '=HYPERLINK("http://evil","x"), "quoted"'})  # fmt: skip
    job_id = _bill_a_job(app, "alice", "vault", "run1")
    ledger = client.get("/api/v1/billing/ledger?limit=200", headers=alice.auth("read")).json()["items"]
    r = client.get("/api/v1/billing/report.csv", headers=alice.auth("read"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(ledger) == 2 + 4  # grant, top-up, 3 epochs, the tail after the last epoch
    for row, entry in zip(rows, reversed(ledger), strict=True):
        assert int(row["entry"]) == entry["id"] and row["kind"] == entry["kind"]
        assert Decimal(row["amount_usd"]) == Decimal(entry["amount"])
        assert Decimal(row["balance_usd"]) == Decimal(entry["balance_after"])
        created = dt.datetime.fromisoformat(entry["created_at"]).astimezone(dt.timezone.utc)
        assert row["date_utc"] == created.strftime("%Y-%m-%d %H:%M:%S")
        assert row["epoch"] == ("" if entry["epoch"] is None else str(entry["epoch"]))
        assert row["seconds"] == ("" if entry["seconds"] is None else str(Decimal(entry["seconds"])))
    charges = [row for row in rows if row["kind"] == "charge"]
    assert [row["job"] for row in charges] == [str(job_id)] * 4 and charges[0]["model"] == "alice/vault/run1"
    assert [row["seconds"] for row in charges] == ["40.000", "30.500", "30.750", "0.750"]
    assert {row["rate_usd_per_hour"] for row in charges} == {"36.00"}
    spent = -sum(Decimal(row["amount_usd"]) for row in charges)
    summary = client.get("/api/v1/billing", headers=alice.auth("read")).json()
    assert summary["month_by_model"] == [{"model": "alice/vault/run1", "amount": f"{spent:.2f}", "lines": 4}]
    assert Decimal(summary["month_spend"]) == spent
    assert sum(Decimal(row["amount_usd"]) for row in charges) == Decimal("-1.02")  # 102 s at 1 cent/s
    assert rows[1]["description"].startswith("'=HYPERLINK")  # not a formula in a spreadsheet
    today = dt.datetime.now(dt.timezone.utc).date()
    tomorrow = today + dt.timedelta(days=1)
    same = client.get(f"/api/v1/billing/report.csv?from={today}&to={today}", headers=alice.auth("read")).text
    assert same == r.text
    empty = client.get(f"/api/v1/billing/report.csv?from={tomorrow}", headers=alice.auth("read")).text
    assert list(csv.reader(io.StringIO(empty)))[1:] == []
    bad = client.get("/api/v1/billing/report.csv?from=yesterday", headers=alice.auth("read"))
    assert bad.status_code == 422 and "from" in bad.json()["detail"]


def test_model_cost_is_for_its_owner_only(app, client, alice, bob) -> None:
    _bill_a_job(app, "alice", "showcase", "run1", visibility="public")
    r = client.get("/api/v1/projects/alice/showcase/models/run1/cost", headers=alice.auth("read"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(row["kind"], row["epoch"]) for row in body["rows"]] == [("epoch", 0), ("epoch", 1), ("epoch", 2),
                                                                     ("final", 2)]  # fmt: skip
    assert body["gpu_seconds"] == "102.000" and body["total_cost"] == "1.02"
    assert sum(Decimal(row["cost"]) for row in body["rows"]) == Decimal(body["total_cost"])
    assert client.get("/api/v1/projects/alice/showcase/models/run1", headers=bob.auth("read")).status_code == 200
    hidden = client.get("/api/v1/projects/alice/showcase/models/run1/cost", headers=bob.auth("read"))
    assert hidden.status_code == 404
    assert client.get("/api/v1/billing", headers=bob.auth()).json()["balance"] == "5.00"  # bob paid nothing


def test_estimate_is_a_range(client, alice, coco8_zip) -> None:
    from tests.platform.conftest import upload

    assert upload(client, alice, coco8_zip, "coco8").status_code == 201
    body = {"gpu": "RTX 4090", "model": "yolo11n", "epochs": 100, "imgsz": 640, "images": 5000}
    r = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json=body)
    assert r.status_code == 200, r.text
    e = r.json()
    low, high = Decimal(e["seconds_per_epoch"]["low"]), Decimal(e["seconds_per_epoch"]["high"])
    assert Decimal(0) < low < high and e["rate_per_hour"] == "0.74" and "derived" in e["basis"]
    assert Decimal(e["cost"]["low"]) <= Decimal(e["cost"]["high"])
    big = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json={**body, "model": "yolo11x"}).json()
    assert Decimal(big["seconds_per_epoch"]["low"]) > 25 * low  # 195 vs 6.5 GFLOPs
    bad = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json={**body, "model": "resnet50"})
    assert bad.status_code == 422 and "resnet50" in bad.json()["detail"]
    unknown = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json={**body, "gpu": "TPU v9"})
    assert unknown.status_code == 422 and "TPU v9" in unknown.json()["detail"]
    by_data = {"gpu": "cpu", "model": "yolo11n", "epochs": 3, "imgsz": 64, "dataset": "alice/coco8:1"}
    r = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json=by_data)
    assert r.status_code == 200 and r.json()["images"] == 4 and r.json()["cost"]["high"] == "0.00"  # coco8: 4 train
    r = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json={**by_data, "dataset": "bob/x"})
    assert r.status_code == 404
    none = {k: v for k, v in by_data.items() if k != "dataset"}
    r = client.post("/api/v1/billing/estimate", headers=alice.auth("read"), json=none)
    assert r.status_code == 422 and r.json()["detail"].startswith("give images")
