"""`yoloforge server` as a real process on 127.0.0.1, waited for through its health endpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.platform.support.postgres import free_port

YOLOFORGE = str(Path(sys.executable).with_name("yoloforge"))


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any YOLOFORGE_SERVER_* / platform settings, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("YOLOFORGE_SERVER_", "YOLOFORGE_PLATFORM", "YOLOFORGE_API"))
    }
    return {**env, **extra}


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [YOLOFORGE, *args], input=stdin, capture_output=True, text=True, env=env or clean_env(), timeout=timeout
    )


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60, port: int | None = None
) -> ServerProcess:
    """Start `yoloforge server --home HOME --port <free, or port> ARGS` and wait until /api/v1/health answers 200."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = home.parent / f"server-{port}.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [YOLOFORGE, "server", "--home", str(home), "--port", str(port), *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env or clean_env(),
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"yoloforge server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=2).status_code == 200:
                return ServerProcess(proc, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"yoloforge server did not answer within {timeout} s:\n{log.read_text()}")
