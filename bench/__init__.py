"""Benchmarks: `python -m bench` prints the figures and writes BENCHMARKS.md."""
