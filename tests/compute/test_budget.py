"""compute.budget: tiny hostile inputs that used to take the server down are refused, by name,
before their memory is spent; real files stay accepted; the estimates agree with real counts."""

from __future__ import annotations

import gzip
import io
import sqlite3
import tracemalloc
import zipfile
from pathlib import Path

import ase
import ase.db
import ase.io
import numpy as np
import pytest
from ase.build import bulk, molecule

from compute import budget
from compute.datasets import DatasetError, read_dataset
from compute.systems import neighbor_pairs

DATA = Path(__file__).resolve().parents[1] / "data"


def _refused(data: bytes, name: str, *needles: str, peak_mb: float = 50.0, **kwargs) -> str:
    """Read ``data``; it must be refused with every needle in the message, at a small peak."""
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as caught:
            read_dataset(data, name=name, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(caught.value)
    assert message.startswith(f"{name}:"), message
    for needle in needles:
        assert needle in message, message
    assert peak < peak_mb * 1e6 + 3 * len(data), f"{peak / 1e6:.0f} MB spent before refusing"
    return message


def test_a_58_byte_poscar_announcing_a_billion_atoms():
    poscar = b"x\n1.0\n5 0 0\n0 5 0\n0 0 5\nH\n+1000000000\nCartesian\n0 0 0\n"
    assert len(poscar) < 64
    _refused(poscar, "POSCAR", "1,000,000,000", "EXPLORER_MAX_ATOMS_PER_STRUCTURE")
    _refused(poscar.replace(b"+1000000000", b"-3"), "POSCAR", "negative atom count")


def test_a_small_npz_whose_features_inflate_past_the_limit():
    buffer = io.BytesIO()
    np.savez_compressed(buffer, features=np.zeros((2_000, 1_000)))  # 16 MB of zeros, a few kB packed
    data = buffer.getvalue()
    assert len(data) < 100_000
    _refused(data, "bomb.npz", "decompressed", "15.3 MB", "EXPLORER_MAX_UPLOAD_MB", max_bytes=1_000_000, peak_mb=5)


def test_an_npz_member_that_is_not_an_array():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("features.npy", io.BytesIO().getvalue())
        archive.writestr("notes.txt", b"hello")
    _refused(buffer.getvalue(), "odd.npz", "'notes.txt'", "not a .npy array")


def test_a_gzipped_xyz_frame_over_the_atoms_per_structure_budget():
    count = 120_000  # over the default 100,000 per structure; 1 MB of text, 3 kB compressed
    text = f"{count}\n\n".encode() + b"H 0 0 0\n" * count
    data = gzip.compress(text)
    assert len(data) < len(text) / 100
    _refused(data, "big.xyz.gz", "120,000", "EXPLORER_MAX_ATOMS_PER_STRUCTURE")


def test_budget_variables_change_the_limits(monkeypatch):
    frames = [molecule("CH4")] * 3
    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    data = buffer.getvalue().encode()
    assert read_dataset(data, name="ok.xyz").n_structures == 3
    monkeypatch.setenv("EXPLORER_MAX_STRUCTURES", "2")
    _refused(data, "ok.xyz", "number of structures is 3", "over the limit of 2", "EXPLORER_MAX_STRUCTURES")
    monkeypatch.setenv("EXPLORER_MAX_STRUCTURES", "10")
    monkeypatch.setenv("EXPLORER_MAX_ATOMS", "14")
    _refused(data, "ok.xyz", "total number of atoms is 15", "EXPLORER_MAX_ATOMS")
    monkeypatch.setenv("EXPLORER_MAX_ATOMS", "lots")
    with pytest.raises(budget.BudgetError, match="EXPLORER_MAX_ATOMS='lots' is not a number"):
        budget.current()


def _xyz(atoms) -> bytes:
    buffer = io.StringIO()
    ase.io.write(buffer, atoms, format="extxyz")
    return buffer.getvalue().encode()


def test_insane_coordinates_and_cells():
    far = molecule("H2O")
    far.positions[0] = [1e20, 0, 0]
    _refused(_xyz(far), "far.xyz", "largest coordinate", "EXPLORER_MAX_COORDINATE")

    crowded = ase.Atoms("H" * 5_000, positions=np.random.default_rng(0).uniform(0, 3, (5_000, 3)), cell=[3, 3, 3], pbc=True)
    _refused(_xyz(crowded), "crowded.xyz", "volume per atom", "EXPLORER_MIN_VOLUME_PER_ATOM")

    flat = bulk("Si", "diamond", a=5.43)
    flat.cell[2] = flat.cell[0] + 1e-9 * flat.cell[1]
    _refused(_xyz(flat), "flat.xyz", "degenerate")

    # real periodic files are within every limit
    for name in ("explore_mc3d.xyz", "explore_c-gap-20u.xyz"):
        assert read_dataset(DATA / name).n_structures == 5


def test_chemiscope_with_a_5000_digit_integer():
    doc = '{"structures": [], "properties": {"e": {"target": "structure", "values": [%s]}}}' % ("9" * 5_000)
    _refused(doc.encode(), "digits.json", "cannot be read")


def test_a_database_with_a_view_is_refused_before_ase_queries_it(tmp_path):
    path = tmp_path / "view.db"
    with ase.db.connect(path) as db:
        db.write(molecule("H2O"))
    connection = sqlite3.connect(path)
    connection.execute("CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c")
    connection.commit()
    connection.close()
    _refused(path.read_bytes(), "view.db", "defines a view", "'forever'")


def test_pair_estimate_agrees_with_the_real_neighbour_list():
    for atoms, cutoff in [(bulk("Si", "diamond", a=5.43) * (3, 3, 3), 5.0), (bulk("Cu", "fcc", a=3.6) * (2, 2, 2), 4.5),
                          (ase.io.read(DATA / "explore_c-gap-20u.xyz", 0), 5.0)]:
        real = len(neighbor_pairs([atoms], cutoff).centers)
        estimate = budget.estimate_pairs(atoms, cutoff)
        assert 0.7 * real <= estimate <= 1.4 * real, (atoms.get_chemical_formula(), real, estimate)
    # a molecule: never more than all pairs
    methane = molecule("CH4")
    assert budget.estimate_pairs(methane, 5.0) <= 5 * 4


def test_pairs_and_matrix_budgets_name_their_setting():
    limits = budget.Budget(max_neighbor_pairs=1_000)
    with pytest.raises(budget.BudgetError, match="neighbour pairs within 5 Å in structure 0.*EXPLORER_MAX_NEIGHBOR_PAIRS"):
        budget.check_pairs(limits, [bulk("Si", "diamond", a=5.43) * (3, 3, 3)], 5.0)
    # the sample's largest per-atom request in the app: 17,743 environments x 33,280 features
    with pytest.raises(budget.BudgetError, match=r"17,743 × 33,280 numbers\) is 4.72 GB, over the limit of 4 GB"):
        budget.check_matrix_bytes(budget.Budget(), 17_743, 33_280)
    budget.check_matrix_bytes(budget.Budget(), 17_743, 1_000)  # a usual one passes
