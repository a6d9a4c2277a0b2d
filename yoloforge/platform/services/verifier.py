"""Where the label verification of an upload runs: never on the event loop.

Small datasets are verified in the request's worker thread. Large ones go to one process started
with `spawn` and kept for the server's life, where the library verifies with a pool of `workers`
processes (forking a pool from a multi-threaded server process is unsafe; from that single-threaded
child it is not). Uploads needing the pool queue for it, so one large verification uses every core
at a time.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from yoloforge.platform.services.dataset_layout import Layout
from yoloforge.platform.services.dataset_report import build_report, split_files

POOL_MIN_IMAGES = 2000  # ~10 s of verification in a thread (5 ms an image): below it a pool saves little


class Verifier:
    """Verify an unpacked dataset; `workers` 0 means one per CPU core."""

    def __init__(self, workers: int = 0, min_images: int = POOL_MIN_IMAGES) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.min_images = min_images
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def __call__(self, tree: Path, layout: Layout) -> dict[str, Any]:
        """The report of `build_report`, computed in this thread or in the verification process."""
        n = len({f for files in split_files(tree, layout).values() for f in files})
        if self.workers <= 1 or n < self.min_images:
            return build_report(tree, layout, workers=1)
        return self._get_pool().submit(build_report, tree, layout, self.workers).result()

    def _get_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
