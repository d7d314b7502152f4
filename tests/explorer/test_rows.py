"""explorer.rows: the vectorised map rows, centre-atom elements and hover names agree with a
straightforward per-row loop (what the module did before), per structure and per atom."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import ase
import numpy as np
import pandas as pd
import pytest

from compute.datasets import Dataset, read_dataset
from explorer.rows import ELEMENT, atom_row_positions, map_rows, property_values, row_names

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_datasets" / "small_molecules-1000.xyz"
CHEMISCOPE = REPO / "tests" / "data" / "CSD-1000R.chemiscope.json"


# --------------------------------------------------------------------------------------------------
# the reference: one Python step per structure or per row


def reference_rows(dataset: Dataset, per: str) -> tuple[np.ndarray, np.ndarray | None]:
    if per == "atom" and dataset.structures is not None:
        if dataset.environments is not None and len(dataset.environments):
            env = dataset.environments
            return env["structure"].to_numpy(np.int64), env["center"].to_numpy(np.int64)
        structure, atom = [], []
        for s, atoms in enumerate(dataset.structures):
            for a in range(len(atoms)):
                structure.append(s)
                atom.append(a)
        return np.array(structure, dtype=np.int64), np.array(atom, dtype=np.int64)
    return np.arange(dataset.n_structures), None


def reference_positions(dataset: Dataset, structure, atom) -> np.ndarray:
    before = [sum(len(dataset.structures[k]) for k in range(s)) for s in range(len(dataset.structures))]
    return np.array([before[s] + a for s, a in zip(structure, atom)], dtype=np.int64)


def reference_elements(dataset: Dataset, structure, atom) -> list[str]:
    return [dataset.structures[s].get_chemical_symbols()[a] for s, a in zip(structure, atom)]


def reference_names(dataset: Dataset, structure, atom) -> list[str]:
    table = dataset.structure_properties
    for candidate in ("name", "NAME", "Name", "id", "ID", "smiles", "formula"):
        if candidate in table.columns:
            column = table[candidate].astype("string").fillna("")
            base = [column.iloc[s] for s in structure] if dataset.structures is not None else list(column)
            break
    else:
        if dataset.structures is not None:
            formulas = [atoms.get_chemical_formula() for atoms in dataset.structures]
            base = [f"#{s} {formulas[s]}" for s in structure]
        else:
            base = [f"#{k}" for k in range(len(structure))]
    if atom is None:
        return base
    symbols = reference_elements(dataset, structure, atom) if len(atom) < 200_000 else ["atom"] * len(atom)
    return [f"{b} · {sym}{a}" for b, sym, a in zip(base, symbols, atom)]


# --------------------------------------------------------------------------------------------------
# datasets


@pytest.fixture(scope="module")
def sample():
    return read_dataset(SAMPLE)


@pytest.fixture(scope="module")
def chemiscope():
    return read_dataset(CHEMISCOPE)


def with_environments(dataset: Dataset, seed: int = 0) -> Dataset:
    """A copy listing a shuffled subset of its atoms as environments (as a chemiscope file may)."""
    structure, atom = reference_rows(dataset, "atom")
    pick = np.random.default_rng(seed).permutation(len(structure))[: len(structure) // 3]
    env = pd.DataFrame({"structure": structure[pick], "center": atom[pick], "cutoff": 3.5})
    return dataclasses.replace(dataset, environments=env)


def features_table() -> Dataset:
    return Dataset(name="table.csv", structures=None, structure_properties=pd.DataFrame({"x": np.arange(7.0)}),
                   atom_properties=pd.DataFrame(), features=np.zeros((7, 2)))


# --------------------------------------------------------------------------------------------------
# tests


def check(dataset: Dataset, per: str) -> None:
    rows = map_rows(dataset, per)
    structure, atom = reference_rows(dataset, per)
    assert rows.per == ("atom" if atom is not None else "structure")
    assert rows.structure.dtype == np.int64 and np.array_equal(rows.structure, structure)
    if atom is None:
        assert rows.atom is None
    else:
        assert rows.atom.dtype == np.int64 and np.array_equal(rows.atom, atom)
        assert np.array_equal(atom_row_positions(dataset, rows), reference_positions(dataset, structure, atom))
        elements = property_values(dataset, rows, ELEMENT)
        assert elements.dtype == object and elements.tolist() == reference_elements(dataset, structure, atom)
        assert all(type(e) is str for e in elements)
    names = row_names(dataset, rows)
    assert names.dtype == object and names.tolist() == reference_names(dataset, structure, atom)
    assert all(type(n) is str for n in names)


@pytest.mark.parametrize("per", ["structure", "atom"])
def test_sample_dataset_rows_match_the_loop(sample, per):
    """985 molecules, 17,743 atoms, no name column (names from the formulas)."""
    check(sample, per)


def test_per_atom_environments_match_the_loop(sample, chemiscope):
    check(chemiscope, "atom")  # a chemiscope file's environments, with a NAME column
    check(chemiscope, "structure")
    check(with_environments(sample), "atom")  # a shuffled subset of the atoms


def test_features_table_rows():
    check(features_table(), "structure")
    check(features_table(), "atom")  # no structures: per structure whatever was asked


def test_many_atoms_are_named_without_their_symbol():
    """From 200,000 rows on, the hover names say "atom" instead of the element (as before)."""
    big = Dataset(name="big.xyz", structures=[ase.Atoms("H2", positions=np.zeros((2, 3))), ase.Atoms(f"C{200_000}", positions=np.zeros((200_000, 3)))],
                  structure_properties=pd.DataFrame({"e": [1.0, 2.0]}), atom_properties=pd.DataFrame())
    rows = map_rows(big, "atom")
    structure, atom = reference_rows(big, "atom")
    assert np.array_equal(rows.structure, structure) and np.array_equal(rows.atom, atom)
    names = row_names(big, rows)
    assert names[:3].tolist() == ["#0 H2 · atom0", "#0 H2 · atom1", "#1 C200000 · atom0"]
    assert names.tolist() == reference_names(big, structure, atom)
    assert property_values(big, rows, ELEMENT).tolist() == ["H", "H"] + ["C"] * 200_000
