"""Benchmarks that print measured figures; run each as a module from the repository
root, e.g. `.venv/bin/python -m bench.pipeline` (see bench/README.md)."""
