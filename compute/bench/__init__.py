"""Benchmarks: ``python -m compute.bench [soap|maps] [options]``.

Each benchmark measures our code next to the peer library (featomic, scikit-matter) in one run,
on the same data and hyperparameters, and prints throughput side by side.
"""

from __future__ import annotations

import numpy as np


def rattled_copies(frames, n: int, scale: float, seed: int = 0) -> list:
    """``n`` structures cycling through ``frames``, each with positions rattled by ``scale`` Å
    (Gaussian); ``info`` (the properties) is kept. Many distinct molecules from a few real ones."""
    rng = np.random.default_rng(seed)
    copies = []
    for k in range(n):
        atoms = frames[k % len(frames)].copy()
        atoms.positions += rng.normal(scale=scale, size=atoms.positions.shape)
        copies.append(atoms)
    return copies
