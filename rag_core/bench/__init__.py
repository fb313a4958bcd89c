"""Benchmarks: `python -m rag_core.bench --help`."""
