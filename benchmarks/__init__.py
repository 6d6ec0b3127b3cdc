"""Benchmarks for churn-api: `make bench` (python -m benchmarks). Numbers, not pass/fail."""
