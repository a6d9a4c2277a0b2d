"""The client's on-disk spool: order, acknowledgement, leftovers of a killed process, the drop policy when full."""

from __future__ import annotations

import json
from pathlib import Path

from yoloforge.remote.spool import Spool


def test_events_wait_in_order_until_acknowledged(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "a" * 32, "alice/p", "exp")
    seqs = [spool.put("epoch", {"epoch": i}) for i in range(3)]
    assert seqs == [1, 2, 3]
    run_id, meta, items = spool.pending(2)
    assert run_id == "a" * 32 and meta == {"project": "alice/p", "model": "exp"}
    assert [i.seq for i in items] == [1, 2] and [i.load()["data"]["epoch"] for i in items] == [0, 1]
    spool.ack(items)
    _, _, items = spool.pending(10)
    assert [i.seq for i in items] == [3] and spool.waiting() == 1
    spool.ack(items)
    assert spool.waiting() == 0


def test_a_killed_process_leftovers_go_first(tmp_path: Path) -> None:
    old = Spool(tmp_path, "a" * 32, "alice/p", "exp")
    old.put("epoch", {"epoch": 0})  # the process dies here: nothing was acknowledged
    new = Spool(tmp_path, "b" * 32, "alice/p", "exp")
    new.put("start", {})
    run_id, _, items = new.pending(10)
    assert run_id == "a" * 32 and [i.kind for i in items] == ["epoch"]
    new.ack(items)
    run_id, _, items = new.pending(10)
    assert run_id == "b" * 32 and [i.kind for i in items] == ["start"]
    assert not (tmp_path / old.run_dir.name).exists()  # the old run's folder is removed once empty


def test_full_spool_drops_progress_then_system_then_console_never_epochs(tmp_path: Path, caplog) -> None:
    spool = Spool(tmp_path, "c" * 32, "alice/p", "exp", max_bytes=2000)
    spool.put("console", {"lines": ["x" * 300]})
    for _ in range(3):
        spool.put("system", {"cpu": 1.0, "pad": "y" * 200})
        spool.put("progress", {"batch": 1, "pad": "z" * 200})
    for epoch in range(10):
        assert spool.put("epoch", {"epoch": epoch, "pad": "e" * 200}) is not None  # kept even over the bound
    kinds = [i.kind for i in spool.pending(100)[2]]
    assert kinds.count("epoch") == 10
    assert "progress" not in kinds and "system" not in kinds and "console" not in kinds
    assert spool.dropped == {"progress": 3, "system": 3, "console": 1}
    assert sum("spool" in r.getMessage() and "full" in r.getMessage() for r in caplog.records) == 1  # warned once
    assert spool.put("progress", {"batch": 2}) is None and spool.dropped["progress"] == 4


def test_blob_keeps_the_version_it_was_given(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", "d" * 32, "alice/p", "exp")
    weights = tmp_path / "last.pt"
    weights.write_bytes(b"epoch 1")
    blob = spool.add_blob(weights, "x-last.pt")
    tmp = tmp_path / "last.pt.tmp"
    tmp.write_bytes(b"epoch 2")
    tmp.replace(weights)  # the trainer saves by rename, as the atomic writer does
    assert blob is not None and blob.read_bytes() == b"epoch 1"
    assert spool.add_blob(tmp_path / "missing.pt", "y.pt") is None


def test_rewrite_and_reject(tmp_path: Path) -> None:
    spool = Spool(tmp_path, "e" * 32, "alice/p", "exp")
    spool.put("checkpoint", {"blob": "b.pt"})
    spool.put("epoch", {"epoch": 0})
    _, _, items = spool.pending(10)
    event = items[0].load()
    event["data"]["upload"] = "t" * 32
    spool.rewrite(items[0], event)
    assert json.loads(items[0].path.read_text())["data"]["upload"] == "t" * 32
    spool.reject(items[1:])
    assert [i.kind for i in spool.pending(10)[2]] == ["checkpoint"]
    assert len(list((tmp_path / "rejected").iterdir())) == 1
