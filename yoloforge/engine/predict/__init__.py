"""Predict mode: sources (sources.py), batching and post-processing (predictor.py), what it returns (results.py)."""
