"""Fixtures shared by the compute tests."""

from __future__ import annotations

import numpy as np
import pytest


def _centred_and_scaled(d):
    """scikit-matter's shipped data, centred, X scaled to unit total variance, y standardised."""
    X = d.data.X
    y = d.data.y.reshape(len(X), -1)
    X = X - X.mean(0)
    X = X / (np.linalg.norm(X) / np.sqrt(len(X)))
    return X, (y - y.mean(0)) / y.std(0)


@pytest.fixture(scope="module", params=["csd", "nice"])
def real(request):
    """(X, y) of scikit-matter's real datasets: CSD-1000R and NICE."""
    from skmatter.datasets import load_csd_1000r, load_nice_dataset

    return _centred_and_scaled(load_csd_1000r() if request.param == "csd" else load_nice_dataset())


# -- shared by the descriptor tests (imported: ``from .conftest import ...``) ----------------------


def small_periodic_cells(salt: bool = False) -> list:
    """A one-atom fcc cell (much smaller than the cutoff) and a sheared (triclinic) diamond cell,
    rattled; with ``salt``, a two-species rock-salt supercell too."""
    from ase.build import bulk

    copper = bulk("Cu", "fcc", a=3.6)
    copper.rattle(0.05, seed=2)
    silicon = bulk("Si", "diamond", a=5.4)
    silicon.set_cell(silicon.cell @ np.array([[1, 0.2, 0], [0, 1, 0.1], [0, 0, 1]]), scale_atoms=True)
    silicon.rattle(0.05, seed=3)
    cells = [copper, silicon]
    if salt:
        sodium_chloride = bulk("NaCl", "rocksalt", a=5.6) * (2, 1, 1)
        sodium_chloride.rattle(0.1, seed=4)
        cells.append(sodium_chloride)
    return cells


def assert_block_gram_close(ours, reference, rtol=1e-6, floor=0.0):
    """Gram matrices of (rows, μ, columns) blocks, summed over μ and columns, equal to ``rtol`` of
    their largest entry; ``floor`` for blocks that vanish by symmetry (per-structure sums or means
    of λ > 0 in a symmetric molecule or crystal)."""
    gram = np.einsum("iuf,juf->ij", ours, ours)
    gram_reference = np.einsum("iuf,juf->ij", reference, reference)
    assert np.abs(gram - gram_reference).max() <= rtol * np.abs(gram_reference).max() + floor
