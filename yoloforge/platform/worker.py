"""What an executor starts for a cloud job: `python -m yoloforge.platform.worker JOB_DIR`.

It reads JOB_DIR/job.json, fetches the dataset (`yf://...`, phase `downloading`), then runs the ordinary library
trainer as a child process (phase `running`):

    python -m yoloforge train model=... data=yf://owner/datasets/name:N ... project=owner/project name=model

or, when the run folder already holds a weights/last.pt (a stopped, paused or crashed attempt),

    python -m yoloforge train resume model=<run folder>/weights/last.pt

and writes the trainer's exit code to JOB_DIR/exit-<attempt>.json when it ends (0 done, 143 stopped
gracefully, negative: killed by that signal). A SIGTERM or SIGINT sent to the worker is passed to the trainer,
which finishes its batch, saves a resumable last.pt and exits 143 (the library's graceful stop).
The streaming client inside the trainer turns on from YOLOFORGE_PLATFORM_URL and YOLOFORGE_API_KEY.

Only the library is imported here (a Ray node needs no server dependencies).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from yoloforge.utils.io import atomic_write_text

JOB_FILE, PHASE_FILE = "job.json", "phase"


def _phase(job_dir: Path, phase: str, history: list[str]) -> None:
    """Record entering `phase` with its time (unix seconds): the server replays phases it polled too late to see."""
    history.append(f"{phase} {time.time():.3f}")
    atomic_write_text(job_dir / PHASE_FILE, "\n".join(history) + "\n")
    print(f"[yoloforge worker] {phase}", flush=True)


def train_command(train_args: list[str], run_dir: Path) -> list[str]:
    """The trainer's command line: a resume when the run folder has a last.pt, else a new run."""
    last = run_dir / "weights" / "last.pt"
    if last.is_file():
        return [sys.executable, "-m", "yoloforge", "train", "resume", f"model={last}"]
    return [sys.executable, "-m", "yoloforge", "train", *train_args]


def fetch_dataset(train_args: list[str]) -> None:
    """Download the job's `yf://` dataset now (the trainer then finds it in the datasets folder)."""
    data = next((a.split("=", 1)[1] for a in train_args if a.startswith("data=")), "")
    if data.startswith(("yf://", "ul://")):
        from yoloforge.remote.datasets import resolve

        print(f"[yoloforge worker] dataset {data} -> {resolve(data)}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run one attempt of a job; returns the trainer's exit code (2 when the job folder is unusable)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m yoloforge.platform.worker JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(args[0]).absolute()
    try:
        job = json.loads((job_dir / JOB_FILE).read_text())
    except (OSError, ValueError) as e:
        print(f"[yoloforge worker] error: cannot read {job_dir / JOB_FILE}: {e}", file=sys.stderr)
        return 2
    child: list[subprocess.Popen] = []

    def forward(signum: int, _frame: object) -> None:
        if child and child[0].poll() is None:
            child[0].send_signal(signum)
        elif not child:
            raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    exit_path = job_dir / f"exit-{job['attempt']}.json"
    code, history = 1, []
    try:
        _phase(job_dir, "downloading", history)
        fetch_dataset(job["train_args"])
        _phase(job_dir, "running", history)
        cmd = train_command(job["train_args"], Path(job["run_dir"]))
        print(f"[yoloforge worker] {' '.join(cmd[1:])}", flush=True)
        child.append(subprocess.Popen(cmd, cwd=job_dir))
        code = child[0].wait()
    except SystemExit as e:
        code = int(e.code or 0)
    except Exception as e:  # the dataset could not be fetched: one line, the job fails with it
        print(f"[yoloforge worker] error: {e}", flush=True)
        code = 2
    atomic_write_text(exit_path, json.dumps({"exit_code": code}) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
