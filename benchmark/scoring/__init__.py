"""Scoring stored predictions: the one macro-F1, bootstrap and tests, tail, anomaly and reading metrics."""
