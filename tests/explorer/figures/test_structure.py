"""Tests of explorer.figures.structure (one structure in 3D) on real structures, without a browser."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import plotly.graph_objects as go
import pytest
from ase.build import bulk, molecule
from ase.data import covalent_radii

from explorer import figures
from explorer.figures import MISSING_COLOR, structure_figure

DATA = Path(__file__).resolve().parents[2] / "data"


def serialises(fig):
    text = fig.to_json()
    assert json.loads(text)["data"] is not None
    return text


# --------------------------------------------------------------------------------------------------
# structure viewer


def atoms_shown(fig):
    """Atom index of every drawn sphere/marker (one entry per atom)."""
    rows = []
    for t in fig.data:
        if t.meta and t.meta.get("kind") == "atoms":
            rows.extend(np.unique(np.asarray(t.customdata, int)))
    return np.sort(np.array(rows))


def n_segments(fig, kind):
    return sum(
        int(np.sum(~np.isnan(np.asarray(t.x, float)))) // 2
        for t in fig.data
        if t.meta and t.meta.get("kind") == kind
    )


def test_structure_methane_bonds_no_cell():
    fig = structure_figure(molecule("CH4"), title="methane")
    assert np.array_equal(atoms_shown(fig), np.arange(5))
    assert n_segments(fig, "bonds") == 8  # 4 bonds drawn as two halves each
    assert fig.layout.meta["n_bonds"] == 4
    assert n_segments(fig, "cell") == 0
    assert sorted(t.name for t in fig.data if t.meta["kind"] == "atoms") == ["C", "H"]
    scene = fig.layout.scene
    assert scene.aspectmode == "data" and scene.xaxis.visible is False
    assert scene.dragmode == "orbit" and scene.bgcolor == "white"
    serialises(fig)


def test_structure_sample_molecule_spheres(molecules):
    atoms = molecules[0]  # a molecule in a box, pbc False: no cell drawn
    fig = structure_figure(atoms)
    assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
    assert n_segments(fig, "cell") == 0
    assert fig.layout.meta["n_bonds"] >= len(atoms) - 1  # a connected molecule
    for t in fig.data:
        if t.meta["kind"] != "atoms":
            continue
        assert isinstance(t, go.Mesh3d)
        z = atoms.numbers[t.meta["atoms"][0]]
        verts = np.column_stack([t.x, t.y, t.z])
        owner = np.asarray(t.customdata, int)
        r = np.linalg.norm(verts - atoms.positions[owner], axis=1)
        assert np.allclose(r, figures.ATOM_RADIUS_SCALE * covalent_radii[z])
        # hover names the element and the atom (customdata), with no text sent per vertex
        assert t.text is None and t.hovertemplate.startswith(f"<b>{t.name}</b> atom %{{customdata}}")


def test_structure_periodic_cell_edges():
    frames = ase.io.read(DATA / "methane_dimer_sample.xyz", ":3")
    fig = structure_figure(frames[0])
    assert n_segments(fig, "cell") == 12
    assert fig.layout.meta["n_bonds"] == 8  # two methanes
    cgap = ase.io.read(DATA / "explore_c-gap-20u.xyz", ":")
    for atoms in cgap:
        fig = structure_figure(atoms)
        assert n_segments(fig, "cell") == 12
        assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
        serialises(fig)


def test_structure_bonds_across_the_boundary():
    si = bulk("Si", "diamond", a=5.43)  # 2 atoms, 4 bonds each, all but one through the boundary
    fig = structure_figure(si)
    assert fig.layout.meta["n_bonds"] == 4  # 8 directed half-bonds
    assert n_segments(fig, "bonds") == 8
    for t in fig.data:
        if t.meta["kind"] == "bonds":  # halves end half-way to the partner: 2.35 / 2 Å
            x = np.asarray(t.x, float).reshape(-1, 3)
            y = np.asarray(t.y, float).reshape(-1, 3)
            z = np.asarray(t.z, float).reshape(-1, 3)
            lengths = np.sqrt((x[:, 1] - x[:, 0]) ** 2 + (y[:, 1] - y[:, 0]) ** 2 + (z[:, 1] - z[:, 0]) ** 2)
            assert np.allclose(lengths, 5.43 * np.sqrt(3) / 8, atol=1e-6)


def test_structure_per_atom_mode_centre_and_cutoff():
    atoms = ase.io.read(DATA / "explore_qm9.xyz", "0")
    charges = atoms.arrays["partial_charges"]
    fig = structure_figure(
        atoms, center=2, cutoff=3.5, atom_color=charges, atom_color_name="partial charge"
    )
    centre = [t for t in fig.data if t.meta["kind"] == "center"]
    assert len(centre) == 1 and list(centre[0].customdata) == [2]
    assert np.allclose([centre[0].x[0], centre[0].y[0], centre[0].z[0]], atoms.positions[2])
    sphere = [t for t in fig.data if t.meta["kind"] == "cutoff"]
    assert len(sphere) == 1 and isinstance(sphere[0], go.Mesh3d)
    assert 0.05 <= sphere[0].opacity <= 0.3
    verts = np.column_stack([sphere[0].x, sphere[0].y, sphere[0].z])
    assert np.allclose(np.linalg.norm(verts - atoms.positions[2], axis=1), 3.5)
    # coloured by the per-atom property through a shared colour axis with a colour bar
    assert fig.layout.coloraxis.colorbar.title.text == "partial charge"
    assert np.isclose(fig.layout.coloraxis.cmin, charges.min())
    for t in fig.data:
        if t.meta["kind"] == "atoms":
            owner = np.asarray(t.customdata, int)
            assert np.allclose(np.asarray(t.intensity, float), charges[owner])
            assert "partial charge" in t.text[0]
    assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
    serialises(fig)


def test_structure_atom_colour_with_nan_and_bad_centre():
    atoms = molecule("CH3CH2OH")
    values = np.arange(len(atoms), dtype=float)
    values[0] = np.nan
    fig = structure_figure(atoms, atom_color=values, atom_color_name="q")
    assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
    grey = [t for t in fig.data if t.meta["kind"] == "atoms" and t.color == MISSING_COLOR]
    assert [np.unique(np.asarray(t.customdata, int)).tolist() for t in grey] == [[0]]
    with pytest.raises(ValueError, match="center"):
        structure_figure(atoms, center=len(atoms))
    with pytest.raises(ValueError, match="atom_color"):
        structure_figure(atoms, atom_color=np.zeros(2))


def test_structure_large_uses_markers():
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((6, 6, 6))  # 864 atoms
    fig = structure_figure(atoms, center=0, cutoff=4.0)
    assert fig.layout.meta["mode"] == "markers"
    atom_traces = [t for t in fig.data if t.meta["kind"] == "atoms"]
    assert all(isinstance(t, go.Scatter3d) for t in atom_traces)
    assert sum(len(t.x) for t in atom_traces) == len(atoms)
    assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
    assert n_segments(fig, "cell") == 12
    assert fig.layout.meta["n_bonds"] == 6 * len(atoms)  # fcc: 12 neighbours
    serialises(fig)


def test_structure_empty_and_trajectory_frames():
    frames = ase.io.read(DATA / "trajectory.xyz", ":")
    fig = structure_figure(frames[-1], title="last frame")
    assert np.array_equal(atoms_shown(fig), np.arange(len(frames[-1])))
    assert fig.layout.title.text == "last frame"
    empty = structure_figure(ase.Atoms())
    assert fig.layout.meta["n_atoms"] > 0 and empty.layout.meta["n_atoms"] == 0
    serialises(empty)

