"""Benchmarks: ``python -m compute.bench [soap|maps] [options]``.

Each benchmark measures our code next to the peer library (featomic, scikit-matter) in one run,
on the same data and hyperparameters, and prints throughput side by side.
"""
