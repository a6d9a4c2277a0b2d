"""Write the next migration from the difference between the models and the newest migration.

    .venv/bin/python -m yoloforge.platform.db.revision "add jobs"

A scratch SQLite database is migrated to head and compared with `Base.metadata`; the new file is
numbered after the last one (0002_add_jobs.py). Read and edit it before committing: autogenerate
does not see renames, and PostgreSQL-only details need a look.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from alembic import command

from yoloforge.platform.db.migrate import MIGRATIONS, alembic_config, upgrade
from yoloforge.platform.db.session import make_engine


def next_number() -> int:
    """One more than the highest NNNN_ prefix in versions/."""
    numbers = [int(m.group(1)) for f in (MIGRATIONS / "versions").glob("*.py") if (m := re.match(r"(\d{4})_", f.name))]
    return max(numbers, default=0) + 1


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m yoloforge.platform.db.revision MESSAGE", file=sys.stderr)
        return 2
    message = argv[0]
    number = f"{next_number():04d}"
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40]
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}")
        upgrade(engine)
        cfg = alembic_config(engine)
        cfg.set_main_option("file_template", f"{number}_{slug}")
        command.revision(cfg, message=message, autogenerate=True, rev_id=number)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
