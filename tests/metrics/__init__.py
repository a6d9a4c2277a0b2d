"""Tests of yoloforge.metrics."""
