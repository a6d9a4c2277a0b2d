"""List the globals a torch checkpoint's pickle refers to, without unpickling anything.

Reading opcodes with `pickletools` executes nothing, so this is safe on any file; it lets us tell
an Ultralytics checkpoint (to import) from a file that asks to run code (to refuse by name).
"""

from __future__ import annotations

import pickletools
import zipfile
from pathlib import Path

_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "SHORT_BINSTRING", "BINSTRING"}


def pickle_bytes(path: str | Path) -> bytes:
    """The main pickle of a torch zip checkpoint (or the whole file for a legacy pickle)."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
            if not names:
                raise ValueError(f"{path} is a zip file but not a torch checkpoint (no data.pkl inside)")
            return z.read(names[0])
    return path.read_bytes()


def pickle_globals(data: bytes) -> set[str]:
    """Every 'module.name' the pickle would import (GLOBAL and STACK_GLOBAL opcodes).

    STACK_GLOBAL takes its two names from the stack, which may come back from the memo, so the
    memo is followed for strings; any other opcode counts as pushing a non-string.
    """
    found: set[str] = set()
    memo: dict[int, str | None] = {}
    recent: list[str | None] = []
    for op, arg, _ in pickletools.genops(data):
        name = op.name
        pushed: str | None = None
        if name in _STRING_OPS:
            pushed = str(arg)
        elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[int(arg)] = recent[-1] if recent else None
            continue
        elif name == "MEMOIZE":
            memo[len(memo)] = recent[-1] if recent else None
            continue
        elif name in ("BINGET", "LONG_BINGET", "GET"):
            pushed = memo.get(int(arg))
        elif name == "GLOBAL":
            module, attr = str(arg).split(" ", 1)
            found.add(f"{module}.{attr}")
        elif name == "STACK_GLOBAL" and len(recent) >= 2 and None not in recent[-2:]:
            found.add(f"{recent[-2]}.{recent[-1]}")
        recent = [*recent[-1:], pushed]
    return found
