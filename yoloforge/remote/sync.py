"""`yoloforge sync [FOLDER ...]`: send the events and checkpoints that runs left in their spool because the
platform could not be reached before they ended (a run that is resumed sends them too; a finished one needs this).

The spool's events carry their run id and seq, so the server stores each once however often they are sent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

SPOOL = Path("platform") / "spool"


def spools_under(paths: Sequence[Path]) -> Iterator[Path]:
    """Spool folders of the run folders in or under `paths` (a run folder, its spool, or any folder above)."""
    seen: set[Path] = set()
    for path in paths:
        if (path / SPOOL).is_dir():
            found = [path / SPOOL]
        elif path.name == "spool" and path.parent.name == "platform" and path.is_dir():
            found = [path]
        else:
            found = sorted(p for p in path.rglob("spool") if p.parent.name == "platform" and p.is_dir())
        for spool in found:
            if spool.resolve() not in seen:
                seen.add(spool.resolve())
                yield spool


def sync_spool(root: Path, url: str, key: str, timeout: float) -> tuple[int, int]:
    """Send what waits in the spool at `root` to `url` for up to `timeout` s; returns (sent, still waiting)."""
    from yoloforge.remote.client import StreamClient
    from yoloforge.remote.spool import Spool

    spool = Spool.existing(root)
    before = spool.waiting()
    if before == 0:
        return 0, 0
    # no command polling: these runs have ended, there is nothing to stop
    client = StreamClient(url, key, spool, on_command=lambda _: None, poll_seconds=float("inf"))
    client.start()
    client.close(timeout)
    left = spool.waiting()
    return before - left, left


def sync_main(argv: Sequence[str]) -> int:
    """`yoloforge sync`: exit 0 when every spool was emptied, 1 when events still wait, 2 for a usage error."""
    from yoloforge.remote.auth import platform_credentials

    parser = argparse.ArgumentParser(
        prog="yoloforge sync",
        description="Send what finished runs could not send to the platform (events and checkpoints in "
        "<run folder>/platform/spool).",
    )
    parser.add_argument("folders", nargs="*", type=Path, help="run folders, or folders to search (default: .)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to keep trying per run (default 120)")
    args = parser.parse_args(list(argv))
    creds = platform_credentials()
    if creds is None:
        print("yoloforge sync: error: no platform API key: run `yoloforge login KEY` or set YOLOFORGE_API_KEY",
              file=sys.stderr)  # fmt: skip
        return 2
    folders = args.folders or [Path(".")]
    missing = [str(f) for f in folders if not f.exists()]
    if missing:
        print(f"yoloforge sync: error: no such folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    spools = list(spools_under(folders))
    waiting = 0
    for root in spools:
        sent, left = sync_spool(root, creds.url, creds.key, args.timeout)
        waiting += left
        if sent or left:
            run = root.parent.parent
            tail = f"; {left} still waiting (the server did not take them: see the warnings above)" if left else ""
            print(f"{run}: sent {sent} event(s) to {creds.url}{tail}")
    if not spools:
        print(f"no run folders with a platform spool under {', '.join(map(str, folders))}")
    elif waiting == 0:
        print(f"nothing waits: {len(spools)} run folder(s) are in sync with {creds.url}")
    return 1 if waiting else 0
