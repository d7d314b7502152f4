"""compute.systems.covalent_bonds against ASE's neighbour list, on molecules and periodic cells."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from ase.data import covalent_radii
from ase.neighborlist import neighbor_list

from compute.systems import covalent_bonds

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"


def _as_set(i, d):
    return {(int(a), *np.round(v, 6)) for a, v in zip(i, d)}


@pytest.mark.parametrize("source", [SAMPLE, DATA / "explore_mc3d.xyz", DATA / "explore_c-gap-20u.xyz"])
def test_bonds_are_asies_pairs_within_the_sum_of_covalent_radii(source):
    frames = ase.io.read(source, index=":20")
    for atoms in frames:
        tolerance = 1.2
        i, d = covalent_bonds(atoms, tolerance)
        reference = atoms.copy()
        if not reference.pbc.any():
            reference.cell = np.eye(3) * (np.ptp(reference.positions, axis=0).max() + 20)  # ASE needs a cell
        ri, rd = neighbor_list("iD", reference, tolerance * covalent_radii[atoms.numbers], self_interaction=False)
        assert _as_set(i, d) == _as_set(ri, rd)
        assert len(i) % 2 == 0  # each bond from both ends


def test_no_atoms_and_a_lone_atom_have_no_bonds():
    assert len(covalent_bonds(ase.Atoms(), 1.2)[0]) == 0
    assert len(covalent_bonds(ase.Atoms("He"), 1.2)[0]) == 0
