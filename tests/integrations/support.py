"""For the logger tests: keep the tools inside tmp, and read back what each logger wrote."""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

WANDB_BLOCK = 32 * 1024
WANDB_HEADER = 7  # ':W&B' + 2-byte magic + 1-byte version
RECORD_HEADER = 7  # crc32c (4) + length (2) + type (1), as in LevelDB logs


def isolate(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Every tool's config, cache and telemetry into `home`; nothing tries the network."""
    home.mkdir()
    mp.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"):
        mp.setenv(var, str(home / var.lower()))
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        mp.setenv(var, str(home / var.lower()))
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT", "COMET_API_KEY", "COMET_MODE", "COMET_PROJECT_NAME",
                "COMET_OFFLINE_DIRECTORY", "CLEARML_API_ACCESS_KEY", "CLEARML_CONFIG_FILE", "MLFLOW_TRACKING_URI",
                "MLFLOW_EXPERIMENT_NAME", "NETRC", "YOLOFORGE_TENSORBOARD"):  # fmt: skip
        mp.delenv(var, raising=False)
    mp.setenv("YOLOFORGE_CONFIG_DIR", str(home / "yoloforge"))
    mp.setenv("DO_NOT_TRACK", "true")
    mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    mp.setenv("WANDB_SILENT", "true")
    mp.setenv("MPLCONFIGDIR", str(home / "mpl"))


def tensorboard_scalars(log_dir: Path) -> tuple[dict[str, dict[int, float]], list[str], dict[str, Any]]:
    """(tag -> {step: value}, image tags, hparams of the session)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    scalars = {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}
    hparams: dict[str, Any] = {}
    for content in acc.PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            for key, value in data.session_start_info.hparams.items():
                hparams[key] = getattr(value, value.WhichOneof("kind"))
    return scalars, acc.Tags()["images"], hparams


def tensorboard_image(log_dir: Path, tag: str) -> tuple[bytes, int, int]:
    """(encoded bytes, width, height) of the last image logged under `tag`."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    acc.Reload()
    event = acc.Images(tag)[-1]
    return event.encoded_image_string, event.width, event.height


def comet_messages(offline_dir: Path) -> list[dict[str, Any]]:
    """The JSON messages inside the one offline archive in `offline_dir`."""
    (archive,) = offline_dir.glob("*.zip")
    with zipfile.ZipFile(archive) as z:
        return [json.loads(line) for line in z.read("messages.json").decode().splitlines() if line.strip()]


def clearml_metrics(session: Path) -> list[dict[str, Any]]:
    """Every event of an offline ClearML session (metrics.jsonl holds JSON arrays, one per flush)."""
    text, decoder, i, events = (session / "metrics.jsonl").read_text(), json.JSONDecoder(), 0, []
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(text, i)
        events += obj if isinstance(obj, list) else [obj]
    return events


def _wandb_chunks(data: bytes) -> list[bytes]:
    """Reassemble records from the LevelDB-style log (full / first / middle / last fragments)."""
    records, pending, pos = [], b"", WANDB_HEADER
    while pos + RECORD_HEADER <= len(data):
        if WANDB_BLOCK - pos % WANDB_BLOCK < RECORD_HEADER:  # block trailer padding
            pos += WANDB_BLOCK - pos % WANDB_BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + RECORD_HEADER])
        payload = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == 0 and length == 0:
            continue
        pending += payload
        if kind in (1, 4):  # full, last
            records.append(pending)
            pending = b""
    return records


def wandb_records(run_file: Path) -> list[Any]:
    """The protobuf records of an offline run's .wandb file."""
    from wandb.proto import wandb_internal_pb2

    assert run_file.read_bytes()[:4] == b":W&B"
    out = []
    for chunk in _wandb_chunks(run_file.read_bytes()):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        out.append(record)
    return out
