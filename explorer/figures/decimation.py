"""Level of detail: which rows a map draws when it has too many to draw them all."""

from __future__ import annotations

import numpy as np


def decimate(
    coords: np.ndarray,
    max_points: int,
    *,
    keep: np.ndarray | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Rows to draw when there are too many: sorted row positions, at most ``max_points``.

    One point per occupied cell of a regular grid over the points' extent (so sparse regions and
    outliers stay visible), then a uniform random subset of the other rows (so dense regions keep
    their density), with a fixed seed: the result depends only on the inputs. The rows in
    ``keep`` (positions) are always kept, even if they alone exceed ``max_points``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> xy = rng.normal(size=(10_000, 2))
    >>> rows = decimate(xy, 1_000, keep=np.array([5, 7]))
    >>> len(rows), bool(np.isin([5, 7], rows).all())
    (1000, True)
    """
    coords = np.asarray(coords, dtype=float)
    n = coords.shape[0]
    keep = np.zeros(0, dtype=np.int64) if keep is None else np.unique(np.asarray(keep, np.int64))
    if n <= max_points:
        return np.arange(n)
    if keep.size >= max_points:
        return keep
    chosen = np.zeros(n, dtype=bool)
    chosen[keep] = True
    budget = max_points - keep.size

    # one representative per occupied grid cell, about half of the budget
    dims = min(coords.shape[1], 3)
    pts = np.nan_to_num(coords[:, :dims], nan=0.0, posinf=0.0, neginf=0.0)
    g = max(int((budget / 2) ** (1.0 / dims)), 1)
    lo = pts.min(axis=0)
    span = pts.max(axis=0) - lo
    span[span <= 0] = 1.0
    cell_xyz = np.minimum(((pts - lo) / span * g).astype(np.int64), g - 1)
    cell = np.zeros(n, dtype=np.int64)
    for d in range(dims):
        cell = cell * g + cell_xyz[:, d]
    # first row of each cell: with repeated indices the last assignment wins, so write backwards
    rep = np.full(g**dims, -1, dtype=np.int64)
    rep[cell[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int64)
    first = rep[rep >= 0]
    first = first[~chosen[first]]
    rng = np.random.default_rng(seed)
    if first.size > budget:
        first = rng.choice(first, size=budget, replace=False)
    chosen[first] = True
    budget -= first.size

    # uniform random rows among the rest: the `budget` smallest random keys
    if budget > 0:
        keys = rng.random(n)
        keys[chosen] = np.inf
        chosen[np.argpartition(keys, budget)[:budget]] = True
    return np.flatnonzero(chosen)
