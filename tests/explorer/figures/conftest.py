"""Fixtures of the figure tests: real structures and a real map (PCA of simple per-structure
composition features of the sample molecules)."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parents[3] / "sample_datasets" / "small_molecules-1000.xyz"


@pytest.fixture(scope="session")
def molecules():
    return ase.io.read(SAMPLE, ":")


@pytest.fixture(scope="session")
def sample_map(molecules):
    """Map coordinates, formation energies, atom counts, names of the 985 sample molecules."""
    species = sorted({z for a in molecules for z in a.numbers})
    counts = np.array([[np.sum(a.numbers == z) for z in species] for a in molecules], float)
    feats = np.column_stack([counts, [a.get_all_distances().mean() for a in molecules]])
    feats = (feats - feats.mean(0)) / feats.std(0)
    _, _, vt = np.linalg.svd(feats, full_matrices=False)
    coords = feats @ vt[:3].T
    energy = np.array([a.info["dft_formation_energy_per_atom_in_eV"] for a in molecules])
    n_atoms = np.array([len(a) for a in molecules])
    names = np.array([a.get_chemical_formula() for a in molecules])
    return coords, energy, n_atoms, names
