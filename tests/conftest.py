"""Shared fixtures: paths to the real data in ../shared and throwaway copies of it."""

from __future__ import annotations

import logging
import os
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
def _threads_per_worker() -> Iterator[None]:
    """Under pytest-xdist, split the CPU cores between the workers (and the processes they start), so two
    workers on two cores do not each run two torch threads fighting for the same core."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers <= 1:
        yield
        return
    import torch

    threads = max(1, (os.cpu_count() or 1) // workers)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", str(threads))
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        yield
        torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No developer's settings file reaches the tests, and runs skip TensorBoard unless a test turns it on."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLOFORGE_CONFIG_DIR", str(tmp_path_factory.mktemp("yoloforge-config")))
        mp.setenv("YOLOFORGE_TENSORBOARD", "0")
        yield


class _WhenNotPropagating(logging.Handler):
    """Forwards to pytest's handler only the records that will not reach the root logger (where pytest's
    own handler already sees them), so caplog holds each record once."""

    def __init__(self, target: logging.Handler) -> None:
        super().__init__()
        self.target = target

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if logging.getLogger("yoloforge").propagate:
            return False
        return bool(self.target.handle(record))


@pytest.fixture(autouse=True)
def _capture_yoloforge_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Once the CLI has called setup_logging() in this worker, yoloforge's logger stops propagating; forward its
    records to pytest's handler directly then, so caplog sees them whatever ran earlier in the same worker."""
    logger = logging.getLogger("yoloforge")
    forward = _WhenNotPropagating(caplog.handler)
    logger.addHandler(forward)
    yield
    logger.removeHandler(forward)


@pytest.fixture(scope="session")
def coco128_dir() -> Path:
    """The read-only coco128 dataset (never write next to it)."""
    return _require(COCO128)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """Checkpoints written by Ultralytics, with their reference outputs."""
    return _require(FIXTURES)


@pytest.fixture
def coco128_copy(tmp_path: Path, coco128_dir: Path) -> Path:
    """A writable copy of coco128 (without Ultralytics' .cache files)."""
    dst = tmp_path / "coco128"
    shutil.copytree(coco128_dir, dst, ignore=shutil.ignore_patterns("*.cache"))
    return dst
