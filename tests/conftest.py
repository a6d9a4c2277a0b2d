"""Shared fixtures: paths to the real data in ../shared and throwaway copies of it."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
COCO128 = SHARED / "datasets" / "coco128"
FIXTURES = SHARED / "fixtures" / "ultralytics"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared beside the repository (see README)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No developer's settings file reaches the tests, and runs skip TensorBoard unless a test turns it on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLOFORGE_CONFIG_DIR", str(tmp_path_factory.mktemp("yoloforge-config")))
        mp.setenv("YOLOFORGE_TENSORBOARD", "0")
        yield


@pytest.fixture(autouse=True)
def _capture_yoloforge_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Once a run has called setup_logging(), yoloforge's logger stops propagating; attach pytest's handler
    to it directly so caplog sees its messages whatever ran earlier in the same worker."""
    logger = logging.getLogger("yoloforge")
    logger.addHandler(caplog.handler)
    yield
    logger.removeHandler(caplog.handler)


@pytest.fixture(scope="session")
def coco128_dir() -> Path:
    """The read-only coco128 dataset (never write next to it)."""
    return _require(COCO128)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Checkpoints written by the incumbent, with their reference outputs."""
    return _require(FIXTURES)


@pytest.fixture
def coco128_copy(tmp_path: Path, coco128_dir: Path) -> Path:
    """A writable copy of coco128 (without the incumbent's .cache files)."""
    dst = tmp_path / "coco128"
    shutil.copytree(coco128_dir, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst
