"""`yoloforge server top-up NAME AMOUNT` as a user runs it, and the balance a real server process reports."""

from __future__ import annotations

import httpx

from tests.platform.support.server import run_cli, start_server


def test_top_up_from_the_shell_and_the_server_sees_it(tmp_path) -> None:
    home = tmp_path / "home"
    made = run_cli("server", "create-user", "alice", "--home", str(home), stdin="a long enough password\n")
    assert made.returncode == 0, made.stderr
    r = run_cli("server", "top-up", "alice", "12.50", "--note", "paid by bank transfer", "--home", str(home))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("added $12.50 to alice: balance $17.50")  # the $5.00 welcome credit + 12.50
    for args, wanted in (
        (("zed", "5"), "user 'zed' not found"),
        (("alice", "1.234"), "at most 2 decimal places"),
        (("alice", "-3"), "must be more than 0"),
    ):
        bad = run_cli("server", "top-up", *args, "--home", str(home))
        assert bad.returncode == 2 and wanted in bad.stderr and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    key = run_cli("server", "create-key", "alice", "--scope", "read", "--home", str(home)).stdout.strip()
    server = start_server(home)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        body = httpx.get(f"{server.url}/api/v1/billing", headers=headers).json()
        assert body["balance"] == "17.50"
        items = httpx.get(f"{server.url}/api/v1/billing/ledger", headers=headers).json()["items"]
        assert [(i["kind"], i["amount"], i["description"]) for i in items] == [
            ("top_up", "12.50", "paid by bank transfer"), ("grant", "5.00", "welcome credit")]  # fmt: skip
    finally:
        server.stop()
