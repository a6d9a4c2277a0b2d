"""Graceful stop: SIGTERM, the first Ctrl-C or `Trainer.request_stop()` end the run after the current batch.

The trainer checks `StopControl.reason` after every batch; when set it writes a resumable last.pt that
holds the position inside the epoch, logs the command that resumes it, and raises `TrainingStopped`.
The CLI turns that into exit code 143 (SIGTERM, or a stop requested by code) or 130 (Ctrl-C), the codes
a shell gives a process killed by those signals. A second Ctrl-C aborts at once (KeyboardInterrupt),
without saving. Signal handlers are installed only while `fit()` runs, only in the main thread (Python
delivers signals there alone), and the previous handlers are put back afterwards.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from yoloforge.utils.log import LOGGER

# Codes shared by every rank (the largest wins when ranks disagree, see Trainer._sync_batch).
NONE, REQUEST, SIGTERM, SIGINT = 0, 1, 2, 3
_NAMES = {REQUEST: "a stop request", SIGTERM: "SIGTERM", SIGINT: "Ctrl-C (SIGINT)"}
# 128 + signal number, as a shell reports a process ended by that signal; a request counts as a termination.
EXIT_CODES = {REQUEST: 128 + signal.SIGTERM, SIGTERM: 128 + signal.SIGTERM, SIGINT: 128 + signal.SIGINT}


class TrainingStopped(Exception):  # a stop, not an error: the run is resumable
    """Training stopped on request after writing a resumable checkpoint.

    `YOLO.train()` raises it; `YOLO(e.checkpoint).train(resume=True)` (or `e.resume_command` on the command
    line) continues at the next batch. Attributes: `reason` (a stop code), `exit_code` (130 for Ctrl-C,
    143 otherwise), `checkpoint` and `save_dir` (absolute paths; None on ranks other than the main one, which
    save nothing), and `where` (e.g. "epoch 3/10, after batch 5/40").
    """

    def __init__(self, reason: int, checkpoint: Path | None, save_dir: Path | None, where: str) -> None:
        self.reason, self.exit_code = reason, EXIT_CODES.get(reason, 1)
        self.checkpoint, self.save_dir, self.where = checkpoint, save_dir, where
        self.resume_command = resume_command(checkpoint) if checkpoint else None
        saved = f"; resume with: {self.resume_command}" if checkpoint else ""
        super().__init__(f"training stopped by {describe(reason)} at {where}{saved}")

    def __reduce__(self) -> tuple[type, tuple]:  # picklable, so a spawned DDP rank can hand it to its parent
        return type(self), (self.reason, self.checkpoint, self.save_dir, self.where)


def resume_command(checkpoint: Path) -> str:
    """The exact command that resumes from `checkpoint` (an absolute path, so it works from any folder; quoted for
    the shell when the path needs it)."""
    return f"yoloforge train resume {shlex.quote(f'model={Path(checkpoint).resolve()}')}"


def describe(reason: int) -> str:
    return _NAMES.get(reason, "a stop request")


class StopControl:
    """The stop flag: set by signal handlers, by `request()` from any thread, read by the training loop.

    No lock: a signal handler runs in the main thread between two bytecodes, possibly while that thread
    holds any lock, so it must not take one. Setting one attribute is atomic under the GIL, and the first
    reason wins; that is all the synchronisation the flag needs.
    """

    def __init__(self, announce: bool = True) -> None:
        self.reason = NONE
        self.interrupts = 0
        self.announce = announce  # only the main process says what it is doing

    def request(self, reason: int = REQUEST) -> None:
        """Ask for a graceful stop after the current batch (safe from any thread and from a signal handler)."""
        if self.reason == NONE:
            self.reason = reason

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupts += 1
            if self.interrupts > 1:
                if self.announce:
                    LOGGER.warning("Second Ctrl-C: aborting now, without saving (last.pt keeps the last saved state)")
                raise KeyboardInterrupt
        reason = SIGINT if signum == signal.SIGINT else SIGTERM
        if self.reason == NONE and self.announce:
            LOGGER.warning("%s received: stopping after the current batch and saving a resumable last.pt "
                           "(press Ctrl-C again to abort at once)", describe(reason))  # fmt: skip
        self.request(reason)

    @contextlib.contextmanager
    def signals_installed(self) -> Iterator[None]:
        """Route SIGTERM and SIGINT to this control for the duration of the block (main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            yield  # signal.signal() only works in the main thread; request() still works from here
            return
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler if handler is not None else signal.SIG_DFL)
