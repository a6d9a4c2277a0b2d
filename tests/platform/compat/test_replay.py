"""Replays of what an unmodified Ultralytics client sent (shared/fixtures/platform-stream/*.jsonl) against a real
server process: in order, then shuffled and duplicated; the model ends with exactly the recorded epochs, metrics,
console text (in chunk order), checkpoint and final results. No Ultralytics code: the bodies are sent with httpx.

The recordings hold the size and SHA-256 of each uploaded checkpoint, not its bytes: the replay uploads a stand-in
of the recorded size, and the server must keep exactly that size and the stand-in's SHA-256.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SHARED
from tests.platform.support.server import ServerProcess, clean_env, run_cli, start_server

RECORDINGS = SHARED / "fixtures" / "platform-stream"
OWNER = "demo-user"
BASE = f"/api/v1/projects/{OWNER}/demo-project/models"
UL_KEY = "ul_0123456789abcdef0123456789abcdef01234567"


def load(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (RECORDINGS / name).read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("replay") / "home"


@pytest.fixture(scope="module")
def key(home: Path) -> str:
    r = run_cli("server", "create-user", OWNER, "--home", str(home), stdin="a long enough password\n")
    assert r.returncode == 0, r.stderr
    r = run_cli("server", "create-key", OWNER, "--home", str(home))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


@pytest.fixture(scope="module")
def server(home: Path, key: str) -> Iterator[ServerProcess]:
    proc = start_server(home, env=clean_env(YOLOFORGE_SERVER_LOST_AFTER_SECONDS="1"))
    yield proc
    proc.stop()


class Replayer:
    """Sends recorded requests, mapping the stand-in's ids, URLs and paths onto the ones our server answers."""

    def __init__(self, url: str, key: str) -> None:
        self.url, self.key = url, key
        self.ids: dict[str, str] = {}  # recorded modelId -> ours
        self.runs: dict[int, int] = {}
        self.uploads: dict[str, dict[str, Any]] = {}  # recorded upload token -> our upload reply
        self.sent: dict[str, tuple[int, str]] = {}  # our upload token -> (size, sha256) of the stand-in bytes
        self.http = httpx.Client(timeout=60)

    def send(self, row: dict[str, Any], name: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.key}"}
        if row["method"] == "PUT":
            token = row["path"].split("/")[2]
            ours = self.uploads[token]["uploadUrl"]
            size = row["body"]["bytes"]
            data = hashlib.shake_256(f"{token}-{size}".encode()).digest(size)
            self.sent[ours.split("/")[-2]] = (size, hashlib.sha256(data).hexdigest())
            return self.http.put(ours, content=data, headers={"Content-Type": "application/octet-stream"})
        body = self._map(copy.deepcopy(row["body"]))
        if name is not None:
            body["name"] = name
        r = self.http.request(row["method"], self.url + row["path"], json=body, headers=headers)
        self._learn(row, r)
        return r

    def _map(self, body: Any) -> Any:
        if isinstance(body, dict):
            if body.get("modelId") in self.ids:
                body["modelId"] = self.ids[body["modelId"]]
            data = body.get("data")
            if isinstance(data, dict):
                if data.get("runId") in self.runs:
                    data["runId"] = self.runs[data["runId"]]
                for field in ("modelPath", "uploadPath"):
                    if isinstance(data.get(field), str):
                        data[field] = self._path(data[field], field)
            if body.get("runId") in self.runs:
                body["runId"] = self.runs[body["runId"]]
        return body

    def _path(self, value: str, field: str) -> str:
        for token, reply in self.uploads.items():
            if token in value:
                return reply["gcsPath" if field == "modelPath" else "uploadPath"]
        return value

    def _learn(self, row: dict[str, Any], r: httpx.Response) -> None:
        if r.status_code != 200:
            return
        rec = row["response"] or {}
        if row["path"].endswith("/training/metrics") and row["body"].get("event") == "training_started":
            self.ids[rec["modelId"]] = r.json()["modelId"]
            self.runs[rec["runId"]] = r.json()["runId"]
        if row["path"].endswith("/models/upload"):
            self.uploads[rec["uploadUrl"].split("/_upload/")[1].split("/")[0]] = r.json()


def webhook_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["path"].startswith(("/api/webhooks/", "/_upload/"))]


def expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the server must end with, from the recording."""
    events = [r["body"] for r in rows if r["path"].endswith("/training/metrics")]
    epochs = [
        e["data"]
        for e in events
        if e["event"] == "epoch_end" and any(k.startswith("val/") for k in e["data"]["metrics"])
    ]
    chunks = sorted((e["data"] for e in events if e["event"] == "console_output"), key=lambda d: d["chunkId"])
    lines = [ln for d in chunks for ln in d["content"].split("\n") if ln.strip()]
    complete = next((e["data"] for e in events if e["event"] == "training_complete"), None)
    return {"epochs": {d["epoch"]: d for d in epochs}, "lines": lines, "complete": complete}


def api(url: str, key: str, path: str) -> Any:
    r = httpx.get(f"{url}{BASE}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def check_model(url: str, key: str, name: str, want: dict[str, Any], replayer: Replayer, status: str) -> None:
    model = api(url, key, f"/{name}")
    assert model["status"] == status and model["source"] == "remote"
    metrics = api(url, key, f"/{name}/metrics")["items"]
    assert [m["epoch"] for m in metrics] == sorted(want["epochs"])
    for m in metrics:
        rec = want["epochs"][m["epoch"]]
        assert m["metrics"] == {**rec["metrics"], "fitness": rec["fitness"], "best_fitness": rec["best_fitness"]}
    lines = [line["text"] for line in api(url, key, f"/{name}/console?limit=5000")["lines"]]
    assert lines == want["lines"]
    if want["complete"] is not None:
        assert model["final_metrics"] == want["complete"]["results"]["metrics"]
    (ckpt,) = model["checkpoints"]
    assert (ckpt["size"], ckpt["sha256"]) in replayer.sent.values()


@pytest.mark.parametrize("recording", ["normal-run.jsonl", "cancelled-before-start.jsonl", "ul-model.jsonl",
                                       "ul-dataset.jsonl"])  # fmt: skip
def test_replay_in_order(server: ServerProcess, key: str, recording: str) -> None:
    rows = webhook_rows(load(recording))
    replayer = Replayer(server.url, key)
    name = f"inorder-{recording.split('.')[0]}"
    for row in rows:
        r = replayer.send(row, name=name if row["body"] and row["body"].get("event") == "training_started" else None)
        assert r.status_code == 200, (row["seq"], r.text)
        if row["method"] == "POST":
            assert r.headers["content-type"] == "application/json" and isinstance(r.json(), dict)
    check_model(server.url, key, name, expected(rows), replayer, "completed")
    if recording == "normal-run.jsonl":  # `model=ul://owner/project/model` then finds its weights
        r = httpx.get(f"{server.url}/api/models/{OWNER}/demo-project/{name}/files",
                      headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        (best,) = r.json()["files"]
        weights = httpx.get(best["downloadUrl"])  # a signed link: no key
        assert best["name"] == "best.pt" and weights.status_code == 200
        assert (len(weights.content), hashlib.sha256(weights.content).hexdigest()) in replayer.sent.values()


@pytest.mark.parametrize("seed", [1, 2])
def test_replay_shuffled_and_duplicated(server: ServerProcess, key: str, seed: int) -> None:
    rows = webhook_rows(load("normal-run.jsonl"))
    rng = random.Random(seed)
    start, rest = rows[0], rows[1:]
    chain = [r for r in rest if r["path"].endswith("/models/upload") or r["method"] == "PUT"
             or (r["body"] or {}).get("event") == "checkpoint_saved"]  # fmt: skip
    others = [r for r in rest if r not in chain]
    others += [r for r in others if rng.random() < 0.5]  # duplicates: retried requests
    rng.shuffle(others)
    at = rng.randrange(len(others) + 1)
    order = [start, start, *others[:at], *chain, *others[at:]]  # the start retried too
    replayer = Replayer(server.url, key)
    name = f"shuffled-{seed}"
    for row in order:
        is_start = (row["body"] or {}).get("event") == "training_started"
        r = replayer.send(row, name=name if is_start else None)
        assert r.status_code == 200, (row["seq"], r.text)
    first_ids = set(replayer.ids.values())
    assert len(first_ids) == 1  # the retried start got the same model
    check_model(server.url, key, name, expected(rows), replayer, "completed")


def test_cancel_reaches_the_client_and_the_run_ends_stopped(server: ServerProcess, key: str) -> None:
    from yoloforge.platform.db import Model
    from yoloforge.platform.db.session import Database
    from yoloforge.platform.services import stream_runs

    rows = webhook_rows(load("cancelled-run.jsonl"))
    replayer = Replayer(server.url, key)
    db = Database(f"sqlite:///{server_home(server) / 'yoloforge.db'}")
    cancelled = {}
    for row in rows:
        body = row["body"] or {}
        if body.get("event") == "epoch_end" and body["data"]["epoch"] == 1:
            with db.sessions() as s:
                model = s.query(Model).filter_by(name="cancelled").one()
                assert stream_runs.request_stop(s, model)
        r = replayer.send(row, name="cancelled" if body.get("event") == "training_started" else None)
        assert r.status_code == 200, r.text
        if body.get("event") == "epoch_end":
            cancelled[body["data"]["epoch"]] = r.json().get("cancelled", False)
    db.dispose()
    recorded = {r["body"]["data"]["epoch"]: bool(r["response"].get("cancelled")) for r in rows
                if (r["body"] or {}).get("event") == "epoch_end"}  # fmt: skip
    assert cancelled == recorded == {0: False, 1: True, 2: True, 3: True}
    check_model(server.url, key, "cancelled", expected(rows), replayer, "stopped")


def server_home(server: ServerProcess) -> Path:
    return Path(server.proc.args[server.proc.args.index("--home") + 1])


def test_interrupted_run_goes_lost_and_its_resume_continues(server: ServerProcess, key: str) -> None:
    first = webhook_rows(load("interrupted-run.jsonl"))
    replayer = Replayer(server.url, key)
    for row in first:
        is_start = (row["body"] or {}).get("event") == "training_started"
        assert replayer.send(row, name="resumed" if is_start else None).status_code == 200
    deadline = time.monotonic() + 30
    while api(server.url, key, "/resumed")["status"] != "lost":  # silence, not a failure event
        assert time.monotonic() < deadline, "the interrupted run never became lost"
        time.sleep(0.2)
    second = webhook_rows(load("resume-run.jsonl"))
    for row in second:
        r = replayer.send(row)
        assert r.status_code == 200, r.text
    want = expected(first + second)
    check_model(server.url, key, "resumed", want, replayer, "completed")
    unknown = {**second[0]["body"], "modelId": "f" * 24}
    r = httpx.post(f"{server.url}/api/webhooks/training/metrics", json=unknown,
                   headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"


def test_rejected_key_and_login(server: ServerProcess, key: str) -> None:
    (row,) = load("rejected-key.jsonl")
    r = httpx.post(f"{server.url}{row['path']}", json=row["body"], headers={"Authorization": f"Bearer {UL_KEY}"})
    assert r.status_code == 401 and r.headers["content-type"] == "application/json" and r.json()["error"]
    ok, bad = load("login.jsonl")
    r = httpx.get(f"{server.url}{ok['path']}", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["username"] == OWNER
    r = httpx.get(f"{server.url}{bad['path']}", headers={"Authorization": f"Bearer {UL_KEY}"})
    assert r.status_code == 401


def test_another_account_cannot_write_into_a_model(server: ServerProcess, key: str, home: Path) -> None:
    rows = webhook_rows(load("normal-run.jsonl"))
    replayer = Replayer(server.url, key)
    assert replayer.send(rows[0], name="guarded").status_code == 200
    run_cli("server", "create-user", "mallory", "--home", str(home), stdin="a long enough password\n")
    other = run_cli("server", "create-key", "mallory", "--home", str(home)).stdout.strip()
    body = {**rows[1]["body"], "modelId": next(iter(replayer.ids.values()))}
    r = httpx.post(
        f"{server.url}/api/webhooks/training/metrics", json=body, headers={"Authorization": f"Bearer {other}"}
    )
    assert r.status_code == 404
    started = {**rows[0]["body"], "name": "intrusion"}  # into demo-user's project by name
    r = httpx.post(f"{server.url}/api/webhooks/training/metrics", json=started,
                   headers={"Authorization": f"Bearer {other}"})  # fmt: skip
    assert r.status_code == 404
    assert api(server.url, key, "/guarded/console")["lines"] == []


def test_ul_dataset_export_manifest_and_images(server: ServerProcess, key: str, coco8_zip: Path) -> None:
    """The flow of ul-dataset.jsonl: export -> NDJSON manifest (the recorded line shapes) -> every image URL."""
    import zipfile

    auth = {"Authorization": f"Bearer {key}"}
    with open(coco8_zip, "rb") as f:
        r = httpx.post(f"{server.url}/api/v1/datasets", headers=auth, files={"file": ("c.zip", f)},
                       data={"name": "tiny"}, timeout=60)  # fmt: skip
    assert r.status_code == 201, r.text
    export = next(row for row in load("ul-dataset.jsonl") if row["path"].endswith("/export"))
    r = httpx.get(server.url + export["path"].replace("demo-user", OWNER), headers=auth)
    assert r.status_code == 200 and set(r.json()) >= set(export["response"])
    manifest = httpx.get(r.json()["downloadUrl"])  # no key: a signed link
    assert manifest.status_code == 200
    lines = [json.loads(line) for line in manifest.text.splitlines()]
    recorded = [json.loads(line) for line in (RECORDINGS / "ul-dataset.manifest.ndjson").read_text().splitlines()]
    assert lines[0]["type"] == "dataset" and lines[0]["class_names"] == recorded[0]["class_names"]
    assert {k for line in lines[1:] for k in line} == {k for line in recorded[1:] for k in line}
    with zipfile.ZipFile(coco8_zip) as zf:
        stored = {Path(n).name: zf.read(n) for n in zf.namelist() if n.endswith(".jpg")}
        labels = {Path(n).stem: zf.read(n).decode() for n in zf.namelist() if n.endswith(".txt") and "/labels/" in n}
    assert sorted(line["file"] for line in lines[1:]) == sorted(stored)
    assert {line["split"] for line in lines[1:]} == {"train", "val"}
    for line in lines[1:]:
        got = httpx.get(line["url"])
        assert got.status_code == 200 and got.content == stored[line["file"]]
        rows = [
            [int(p[0]), *map(float, p[1:])]
            for p in (t.split() for t in labels.get(Path(line["file"]).stem, "").splitlines())
            if p
        ]
        assert line["annotations"]["boxes"] == rows
    r = httpx.get(f"{server.url}/api/datasets/{OWNER}/nothing/export", headers=auth)
    assert r.status_code == 404
