"""Server settings: arguments over YOLOFORGE_SERVER_* over defaults; the secret is made once, private."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from yoloforge.platform.settings import ServerSettings


def test_defaults_live_under_home(tmp_path: Path) -> None:
    s = ServerSettings(home=tmp_path / "h")
    assert s.resolved_database_url == f"sqlite:///{tmp_path / 'h' / 'yoloforge.db'}"
    assert s.resolved_storage_url == str(tmp_path / "h" / "storage")
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert not (tmp_path / "h").exists()  # reading settings writes nothing


def test_environment_and_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOLOFORGE_SERVER_PORT", "9001")
    monkeypatch.setenv("YOLOFORGE_SERVER_STORAGE_URL", "s3://bucket/prefix")
    assert ServerSettings(home=tmp_path).port == 9001
    assert ServerSettings(home=tmp_path, port=9002).port == 9002  # an argument wins
    assert ServerSettings(home=tmp_path).resolved_storage_url == "s3://bucket/prefix"
    monkeypatch.setenv("YOLOFORGE_SERVER_PORT", "99999")
    with pytest.raises(ValidationError, match="port"):
        ServerSettings(home=tmp_path)


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    s = ServerSettings(home=tmp_path / "h")
    first = s.secret_key()
    path = tmp_path / "h" / "secret_key"
    assert len(first) >= 64 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ServerSettings(home=tmp_path / "h").secret_key() == first  # read back, not replaced
    assert [p.name for p in (tmp_path / "h").iterdir()] == ["secret_key"]  # no temporary file left
    assert ServerSettings(home=tmp_path / "h", secret="given").secret_key() == "given"
