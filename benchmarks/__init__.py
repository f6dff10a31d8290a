"""Benchmark scripts (run as files, see README.md) and the anchor routes gunicorn imports as `benchmarks.*`."""
