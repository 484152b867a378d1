"""Benchmarks: run as scripts, e.g. `.venv/bin/python bench/ack.py`; they report figures and assert no timings."""
