"""Tests of yoloforge.utils."""
