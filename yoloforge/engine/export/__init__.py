"""Export mode (exporter.py) and the runtime that runs exported files as if they were the PyTorch model (runtime.py)."""
