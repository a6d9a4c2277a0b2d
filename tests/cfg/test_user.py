"""Per-user settings: defaults, file, environment, corrupt files, and the `yoloforge settings` command."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from yoloforge.cfg.user import (
    KEYS,
    load_user_settings,
    reset_user_settings,
    resolve_user_settings,
    save_user_settings,
    settings_path,
)
from yoloforge.errors import ConfigError


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private config folder and a clean environment (no YOLOFORGE_<KEY> from the developer's shell)."""
    folder = tmp_path / "config"
    monkeypatch.setenv("YOLOFORGE_CONFIG_DIR", str(folder))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    for key in KEYS:
        monkeypatch.delenv(f"YOLOFORGE_{key.upper()}", raising=False)
    yield folder


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "yoloforge", "settings", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)  # fmt: skip


def test_defaults_without_a_file_and_reading_never_writes(config_dir: Path, tmp_path: Path) -> None:
    settings, sources = resolve_user_settings()
    assert settings.datasets_dir == tmp_path / "data" / "yoloforge" / "datasets"
    assert settings.runs_dir == Path("runs") and settings.weights_dir == tmp_path / "data" / "yoloforge" / "weights"
    assert settings.tensorboard and not (settings.mlflow or settings.comet or settings.clearml or settings.wandb)
    assert settings.platform_url == "" and settings.api_key.get_secret_value() == ""
    assert set(sources.values()) == {"default"} and not config_dir.exists()


def test_config_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("YOLOFORGE_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert settings_path() == tmp_path / "yoloforge" / "settings.yaml"


def test_file_then_environment_override(config_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    save_user_settings({"datasets_dir": str(tmp_path / "ds"), "mlflow": "true", "tensorboard": False})
    monkeypatch.setenv("YOLOFORGE_TENSORBOARD", "1")
    monkeypatch.setenv("YOLOFORGE_RUNS_DIR", "~/myruns")
    settings, sources = resolve_user_settings()
    assert settings.datasets_dir == tmp_path / "ds" and settings.mlflow and settings.tensorboard
    assert settings.runs_dir == Path.home() / "myruns"
    assert sources["datasets_dir"] == sources["mlflow"] == "file"
    assert sources["tensorboard"] == sources["runs_dir"] == "env" and sources["wandb"] == "default"
    assert load_user_settings().datasets_dir == tmp_path / "ds"  # the old entry point sees the file too


def test_a_bad_environment_value_names_the_variable(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOFORGE_WANDB", "sometimes")
    with pytest.raises(ConfigError, match=r"YOLOFORGE_WANDB.*'sometimes'"):
        load_user_settings()


def test_only_changed_keys_are_stored_privately(config_dir: Path) -> None:
    save_user_settings({"api_key": "secret-key-123456", "comet": "yes"})
    path = settings_path()
    assert yaml.safe_load(path.read_text()) == {"comet": True, "api_key": "secret-key-123456"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in config_dir.iterdir()] == ["settings.yaml"]  # no temporary files left


def test_unknown_key_and_bad_value_are_refused_before_writing(config_dir: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean 'datasets_dir'"):
        save_user_settings({"dataset_dir": "/x"})
    with pytest.raises(ConfigError, match="wandb='perhaps'"):
        save_user_settings({"wandb": "perhaps"})
    assert not settings_path().exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [("datasets_dir: [unclosed\n", "not valid YAML"), ("tensorboard: maybe\n", "tensorboard='maybe'"),
     ("- a list\n", "expected key: value")],
)  # fmt: skip
def test_a_corrupt_file_is_moved_aside_and_defaults_apply(
    config_dir: Path, text: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    config_dir.mkdir()
    settings_path().write_text(text)
    from yoloforge.utils.log import LOGGER

    LOGGER.addHandler(caplog.handler)  # the package logger may not propagate
    try:
        settings, sources = resolve_user_settings()
    finally:
        LOGGER.removeHandler(caplog.handler)
    assert settings.tensorboard and set(sources.values()) == {"default"}
    (moved,) = config_dir.glob("settings.yaml.corrupt-*")
    assert moved.read_text() == text and not settings_path().exists()
    assert str(settings_path()) in caplog.text and problem in caplog.text and moved.name in caplog.text


def test_unknown_keys_in_the_file_are_ignored(config_dir: Path) -> None:
    config_dir.mkdir()
    settings_path().write_text("wandb: true\nfuture_key: 3\n")
    settings, sources = resolve_user_settings()
    assert settings.wandb and sources["wandb"] == "file" and settings_path().exists()


def test_reset_some_or_all(config_dir: Path) -> None:
    save_user_settings({"mlflow": True, "wandb": True})
    assert reset_user_settings(["mlflow"]) == settings_path()
    assert yaml.safe_load(settings_path().read_text()) == {"wandb": True}
    assert reset_user_settings() is None and not settings_path().exists()


def test_cli_show_change_and_sources(config_dir: Path, tmp_path: Path) -> None:
    shown = cli()
    assert shown.returncode == 0 and "absent" in shown.stdout and not config_dir.exists()
    changed = cli("datasets_dir=rel/ds", "wandb=true", "api_key=abcdefghijkl1234")
    assert changed.returncode == 0, changed.stderr
    stored = yaml.safe_load(settings_path().read_text())
    assert Path(stored["datasets_dir"]).is_absolute() and stored["datasets_dir"].endswith("rel/ds")
    shown = cli(env={"YOLOFORGE_TENSORBOARD": "0"})
    lines = {line.split()[0]: line.split()[1:] for line in shown.stdout.splitlines()[1:-1]}
    assert lines["wandb"] == ["true", "file"] and lines["tensorboard"] == ["false", "env", "(YOLOFORGE_TENSORBOARD)"]
    assert lines["api_key"] == ["****1234", "file"] and lines["mlflow"] == ["false", "default"]
    assert "abcdefghijkl1234" not in shown.stdout + changed.stdout


def test_cli_errors_exit_2_with_a_hint(config_dir: Path) -> None:
    typo = cli("tensorbaord=false")
    assert typo.returncode == 2 and "did you mean 'tensorboard'" in typo.stderr
    bad = cli("mlflow=perhaps")
    assert bad.returncode == 2 and "mlflow='perhaps'" in bad.stderr
    stray = cli("wandb")
    assert stray.returncode == 2 and "write wandb=<value>" in stray.stderr
    assert not config_dir.exists()


def test_cli_reset_and_corrupt_file(config_dir: Path) -> None:
    config_dir.mkdir()
    settings_path().write_text("{{{ not yaml")
    shown = cli()
    assert shown.returncode == 0 and str(settings_path()) in shown.stderr and "corrupt-" in shown.stderr
    assert cli("mlflow=1").returncode == 0 and settings_path().exists()
    reset = cli("reset")
    assert reset.returncode == 0 and not settings_path().exists()
    assert len(list(config_dir.glob("settings.yaml.corrupt-*"))) == 1


def test_help_lists_the_command() -> None:
    out = subprocess.run([sys.executable, "-m", "yoloforge", "help"], capture_output=True, text=True, timeout=60)
    assert "yoloforge settings" in out.stdout
    usage = cli("help")
    assert usage.returncode == 0 and "reset [key ...]" in usage.stdout
