"""`python -m yoloforge` runs the CLI."""

from yoloforge.cli import main

raise SystemExit(main())
