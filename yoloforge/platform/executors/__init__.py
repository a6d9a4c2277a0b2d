"""Executors run a cloud job's worker: `local` (a process group on this machine) and `ray` (a Ray cluster),
behind one interface (base.py)."""
