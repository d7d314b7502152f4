"""Tests of explorer.figures on real data, without a browser.

Values are read from the trace attributes in Python (``np.asarray(trace.customdata)``), never
from ``to_dict()``/JSON, where plotly encodes numpy arrays as base64 ``{"dtype", "bdata"}``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from ase.build import bulk, molecule
from ase.data import covalent_radii

from explorer import figures
from explorer.figures import (
    MISSING_COLOR,
    NOISE_COLOR,
    cluster_sizes_figure,
    decimate,
    empty_figure,
    learning_curve_figure,
    map_figure,
    structure_figure,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
SAMPLE = REPO / "sample_datasets" / "small_molecules-1000.xyz"


# --------------------------------------------------------------------------------------------------
# fixtures: real structures and a real map (PCA of simple per-structure composition features)


@pytest.fixture(scope="module")
def molecules():
    return ase.io.read(SAMPLE, ":")


@pytest.fixture(scope="module")
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


def all_rows(fig):
    """customdata[0] of every point over all traces, in trace order."""
    return np.concatenate(
        [np.asarray(t.customdata)[:, 0].astype(np.int64) for t in fig.data if t.customdata is not None]
    )


def serialises(fig):
    text = fig.to_json()
    assert json.loads(text)["data"] is not None
    return text


# --------------------------------------------------------------------------------------------------
# map


def test_map_one_point_per_row_with_index_first(sample_map):
    coords, energy, n_atoms, names = sample_map
    fig = map_figure(
        coords[:, :2], color=energy, color_name="formation energy", names=names,
        hover={"atoms": n_atoms},
    )  # fmt: skip
    assert all(isinstance(t, go.Scattergl) for t in fig.data)
    rows = all_rows(fig)
    assert np.array_equal(np.sort(rows), np.arange(len(coords)))
    for t in fig.data:  # coordinates follow their index
        r = np.asarray(t.customdata)[:, 0].astype(int)
        assert np.allclose(t.x, coords[r, 0]) and np.allclose(t.y, coords[r, 1])
        assert list(t.text) == list(names[r])
        assert "%{text}" in t.hovertemplate and "atoms" in t.hovertemplate
        # hover fields follow the index: the colour value, then the extra fields
        assert np.allclose(np.asarray(t.customdata)[:, 1].astype(float), energy[r])
        assert np.allclose(np.asarray(t.customdata)[:, 2].astype(float), n_atoms[r])
    assert fig.layout.dragmode == "lasso"
    assert fig.layout.template.layout.paper_bgcolor is not None  # plotly_white applied
    assert fig.layout.uirevision == "map"
    assert fig.layout.xaxis.title.text == "PC1" and fig.layout.yaxis.title.text == "PC2"
    serialises(fig)


def test_map_custom_index_is_customdata(sample_map):
    coords = sample_map[0][:50, :2]
    index = np.arange(1000, 1050)[::-1]
    fig = map_figure(coords, index=index, selected=np.array([1000, 1049]))
    assert np.array_equal(all_rows(fig), index)
    assert sorted(index[np.asarray(fig.data[0].selectedpoints)]) == [1000, 1049]


def test_map_numeric_colour_and_nan_greyed(sample_map):
    coords, energy, _, _ = sample_map
    color = energy.copy()
    nan_rows = np.arange(0, len(color), 7)
    color[nan_rows] = np.nan
    fig = map_figure(coords[:, :2], color=color, color_name="formation energy")
    assert len(fig.data) == 2
    main, grey = fig.data
    assert main.marker.colorbar.title.text == "formation energy"
    assert main.marker.showscale
    assert np.all(np.isfinite(np.asarray(main.marker.color, float)))
    assert grey.name == "no value" and grey.marker.color == MISSING_COLOR
    assert np.array_equal(np.sort(np.asarray(grey.customdata)[:, 0].astype(int)), nan_rows)
    assert np.array_equal(np.sort(all_rows(fig)), np.arange(len(coords)))


def test_map_all_nan_colour_keeps_every_point(sample_map):
    coords = sample_map[0][:, :2]
    fig = map_figure(coords, color=np.full(len(coords), np.nan), color_name="empty")
    assert np.array_equal(np.sort(all_rows(fig)), np.arange(len(coords)))
    assert any(t.name == "no value" for t in fig.data)
    serialises(fig)


def test_map_log_colour(sample_map):
    coords, _, n_atoms, _ = sample_map
    values = n_atoms.astype(float) ** 3  # spans several decades
    values[:5] = 0.0  # non-positive: missing in log scale
    values[5] = -1.0
    fig = map_figure(coords[:, :2], color=values, color_name="atoms³", log_color=True)
    main = fig.data[0]
    shown = np.asarray(main.marker.color, float)
    rows = np.asarray(main.customdata)[:, 0].astype(int)
    assert np.allclose(shown, np.log10(values[rows]))
    assert np.allclose(np.asarray(main.customdata)[:, 1].astype(float), values[rows])  # hover: raw
    cb = main.marker.colorbar
    assert "log" in cb.title.text
    ticks = np.asarray(cb.tickvals, float)
    assert len(ticks) >= 2 and np.allclose([float(t) for t in cb.ticktext], 10**ticks, rtol=1e-2)
    grey = [t for t in fig.data if t.name.startswith("no value")][0]
    assert sorted(np.asarray(grey.customdata)[:, 0].astype(int)) == [0, 1, 2, 3, 4, 5]


def test_map_categorical_strings(molecules, sample_map):
    coords = sample_map[0][:, :2]
    # the heaviest element of each molecule, with a few unknown
    heaviest = np.array([a.get_chemical_symbols()[int(np.argmax(a.numbers))] for a in molecules])
    heaviest = heaviest.astype(object)
    heaviest[:3] = None
    fig = map_figure(coords, color=heaviest, color_name="heaviest element")
    names = [t.name for t in fig.data]
    expected = sorted(set(heaviest[3:]))
    assert names == expected + ["no value"]
    assert all(t.showlegend for t in fig.data)
    assert fig.layout.legend.title.text == "heaviest element"
    assert len({t.marker.color for t in fig.data}) == len(fig.data)
    for t in fig.data[:-1]:
        rows = np.asarray(t.customdata)[:, 0].astype(int)
        assert set(heaviest[rows]) == {t.name}
    assert np.array_equal(np.sort(all_rows(fig)), np.arange(len(coords)))
    serialises(fig)


def test_map_cluster_labels_with_noise(sample_map):
    coords = sample_map[0][:, :2]
    labels = (coords[:, 0] > 0).astype(int) + 2 * (coords[:, 1] > 0)
    labels[::10] = -1
    fig = map_figure(coords, color=labels, color_name="cluster", color_kind="categorical")
    assert [t.name for t in fig.data] == ["0", "1", "2", "3", "noise"]
    assert fig.data[-1].marker.color == NOISE_COLOR
    noise_rows = np.asarray(fig.data[-1].customdata)[:, 0].astype(int)
    assert np.array_equal(np.sort(noise_rows), np.flatnonzero(labels == -1))
    # an integer property named "cluster" is categorical without being told
    fig2 = map_figure(coords, color=labels, color_name="cluster (k-means)")
    assert [t.name for t in fig2.data] == ["0", "1", "2", "3", "noise"]
    # the same colours as the cluster bar chart
    bars = cluster_sizes_figure(labels)
    assert list(bars.data[0].marker.color) == [t.marker.color for t in fig.data]


def test_map_many_categories_grouped(sample_map, molecules):
    coords = sample_map[0][:, :2]
    formula = np.array([a.get_chemical_formula() for a in molecules])
    fig = map_figure(coords, color=formula, color_name="formula", max_categories=10)
    assert len(fig.data) == 10 and fig.data[-1].name == "other"
    assert np.array_equal(np.sort(all_rows(fig)), np.arange(len(coords)))


def test_map_size_property(sample_map):
    coords, energy, n_atoms, _ = sample_map
    size = n_atoms.astype(float)
    size[0] = np.nan
    fig = map_figure(coords[:, :2], size=size, size_name="atoms")
    sizes = np.asarray(fig.data[0].marker.size, float)
    rows = np.asarray(fig.data[0].customdata)[:, 0].astype(int)
    assert sizes.min() >= 3 and sizes.max() <= 20
    assert sizes[rows == 0][0] == sizes.min()
    big, small = np.argmax(size[1:]) + 1, np.argmin(size[1:]) + 1
    assert sizes[rows == big][0] > sizes[rows == small][0]
    assert "atoms" in fig.data[0].hovertemplate


def test_map_3d_and_export(sample_map):
    coords, energy, _, _ = sample_map
    fig = map_figure(coords, color=energy, color_name="E", selected=np.array([3, 4]))
    assert all(isinstance(t, go.Scatter3d) for t in fig.data)
    assert fig.layout.scene.zaxis.title.text == "PC3"
    assert np.array_equal(np.sort(all_rows(fig)), np.arange(len(coords)))
    sizes = np.asarray(fig.data[0].marker.size, float)
    rows = np.asarray(fig.data[0].customdata)[:, 0].astype(int)
    assert sizes[rows == 3][0] > sizes[rows == 5][0]  # selection highlighted
    serialises(fig)

    exp = map_figure(coords[:, :2], color=energy, color_name="E", for_export=True)
    assert all(type(t) is go.Scatter for t in exp.data)
    assert {t["type"] for t in json.loads(exp.to_json())["data"]} == {"scatter"}


def test_map_selected_points(sample_map):
    coords = sample_map[0][:, :2]
    labels = (coords[:, 0] > 0).astype(int)
    selected = np.array([0, 1, 2, 500, 984])
    fig = map_figure(coords, color=labels, color_kind="categorical", selected=selected)
    got = []
    for t in fig.data:
        rows = np.asarray(t.customdata)[:, 0].astype(int)
        got.extend(rows[np.asarray(t.selectedpoints, int)])
    assert sorted(got) == sorted(selected)
    # no selection: nothing dimmed
    assert map_figure(coords).data[0].selectedpoints is None
    assert map_figure(coords, selected=np.array([], int)).data[0].selectedpoints is None


def test_map_equal_aspect_and_titles(sample_map):
    coords = sample_map[0][:, :2]
    fig = map_figure(coords, equal_aspect=True, axis_titles=("KPCovR 1", "KPCovR 2"), uirevision="x")
    assert fig.layout.yaxis.scaleanchor == "x"
    assert fig.layout.xaxis.title.text == "KPCovR 1"
    assert fig.layout.uirevision == "x"


def test_map_bad_input():
    with pytest.raises(ValueError, match="shape"):
        map_figure(np.zeros((5, 4)))
    with pytest.raises(ValueError, match="color"):
        map_figure(np.zeros((5, 2)), color=np.zeros(4))


# --------------------------------------------------------------------------------------------------
# level of detail


@pytest.fixture(scope="module")
def million():
    """1,000,000 points: the 985 sample molecules' map, jittered copies of it (real shape)."""
    rng = np.random.default_rng(1)
    base = np.random.default_rng(2).normal(size=(985, 2))
    pts = base[rng.integers(0, 985, 1_000_000)] + 0.05 * rng.normal(size=(1_000_000, 2))
    color = pts[:, 0] + pts[:, 1]
    color[::13] = np.nan
    return pts, color


def test_decimation_caps_keeps_selected_and_is_deterministic(million):
    pts, color = million
    selected = np.arange(7, 1_000_000, 9_999)
    fig = map_figure(pts, color=color, color_name="c", selected=selected, max_points=50_000)
    rows = all_rows(fig)
    assert rows.size == 50_000 and np.unique(rows).size == 50_000
    assert np.isin(selected, rows).all()
    assert "showing 50,000 of 1,000,000 points" in fig.layout.title.text
    assert fig.layout.meta["n_points"] == 1_000_000 and fig.layout.meta["decimated"]
    assert any(t.name == "no value" for t in fig.data)  # NaN points are decimated, not dropped
    for t in fig.data:  # coordinates still follow the index
        r = np.asarray(t.customdata)[:, 0].astype(int)
        assert np.allclose(t.x, pts[r, 0]) and np.allclose(t.y, pts[r, 1])
    fig2 = map_figure(pts, color=color, color_name="c", selected=selected, max_points=50_000)
    assert np.array_equal(all_rows(fig2), rows)


def test_decimation_keeps_outliers(million):
    pts, _ = million
    pts = pts.copy()
    pts[123_456] = [40.0, -40.0]  # a lone point far away survives the grid pass
    rows = decimate(pts, 10_000)
    assert 123_456 in rows and rows.size == 10_000
    assert np.all(np.diff(rows) > 0)


def test_decimation_3d_and_small_inputs():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200_000, 3))
    rows = decimate(pts, 20_000, keep=np.array([5]))
    assert rows.size == 20_000 and 5 in rows
    assert np.array_equal(decimate(pts[:100], 20_000), np.arange(100))
    fig = map_figure(pts, max_points=20_000)
    assert len(all_rows(fig)) == 20_000


def test_million_point_map_is_fast(million):
    pts, color = million
    map_figure(pts[:1000], color=color[:1000], color_name="c")  # warm plotly's validators
    best = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        fig = map_figure(pts, color=color, color_name="c", hover={"c2": color})
        best = min(best, time.perf_counter() - t0)
    assert len(all_rows(fig)) == 50_000
    assert best < 3.0, f"1M-point map took {best:.2f} s"
    serialises(fig)


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
    t0 = time.perf_counter()
    fig = structure_figure(atoms, center=0, cutoff=4.0)
    elapsed = time.perf_counter() - t0
    assert fig.layout.meta["mode"] == "markers"
    atom_traces = [t for t in fig.data if t.meta["kind"] == "atoms"]
    assert all(isinstance(t, go.Scatter3d) for t in atom_traces)
    assert sum(len(t.x) for t in atom_traces) == len(atoms)
    assert np.array_equal(atoms_shown(fig), np.arange(len(atoms)))
    assert n_segments(fig, "cell") == 12
    assert fig.layout.meta["n_bonds"] == 6 * len(atoms)  # fcc: 12 neighbours
    assert elapsed < 10.0
    serialises(fig)


def test_structure_empty_and_trajectory_frames():
    frames = ase.io.read(DATA / "trajectory.xyz", ":")
    fig = structure_figure(frames[-1], title="last frame")
    assert np.array_equal(atoms_shown(fig), np.arange(len(frames[-1])))
    assert fig.layout.title.text == "last frame"
    empty = structure_figure(ase.Atoms())
    assert fig.layout.meta["n_atoms"] > 0 and empty.layout.meta["n_atoms"] == 0
    serialises(empty)


# --------------------------------------------------------------------------------------------------
# learning curves, clusters, empty


def test_learning_curve_log_log_with_error_bars(molecules, sample_map):
    from compute.models import learning_curve

    coords, energy, _, _ = sample_map
    table = learning_curve(coords, energy, model="ridge", train_sizes=[50, 100, 200, 400], n_splits=3, alpha=1e-2)
    fig = learning_curve_figure(table, property_name="formation energy", model_name="ridge")
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert "formation energy" in fig.layout.yaxis.title.text
    assert "training" in fig.layout.xaxis.title.text
    test, train = fig.data[0], fig.data[1]
    assert test.name == "test RMSE" and train.name == "train RMSE"
    assert np.allclose(np.asarray(test.x, float), table["train_size"])
    assert np.allclose(np.asarray(test.y, float), table["rmse_test"])
    assert np.allclose(np.asarray(test.error_y.array, float), table["rmse_test_std"])
    assert "ridge" in fig.layout.title.text
    serialises(fig)


def test_learning_curve_minimal_table_and_duplicates():
    table = pd.DataFrame(
        {
            "train_size": [10, 10, 100, 100],
            "rmse_train": [0.1, 0.3, 0.2, 0.2],
            "rmse_test": [1.0, 2.0, 0.5, 0.7],
            "rmse_test_std": [np.nan] * 4,
            "mae_test": [0.8, 0.8, 0.4, 0.4],
        }
    )
    fig = learning_curve_figure(table)
    assert np.allclose(np.asarray(fig.data[0].y, float), [1.5, 0.6])
    assert fig.data[0].error_y.array is None
    with pytest.raises(ValueError, match="rmse_test"):
        learning_curve_figure(pd.DataFrame({"train_size": [1]}))


def test_cluster_sizes():
    labels = np.array([0] * 5 + [1] * 3 + [-1] * 2 + [2])
    fig = cluster_sizes_figure(labels)
    bar = fig.data[0]
    assert list(bar.x) == ["0", "1", "2", "noise"]
    assert list(bar.y) == [5, 3, 1, 2]
    assert list(np.asarray(bar.customdata)[:, 0]) == [0, 1, 2, -1]
    assert bar.marker.color[-1] == NOISE_COLOR
    assert len(set(bar.marker.color[:3])) == 3
    serialises(fig)
    assert cluster_sizes_figure(np.array([], int)).layout.annotations[0].text


def test_empty_figure():
    fig = empty_figure("Upload a dataset to start")
    assert fig.layout.annotations[0].text == "Upload a dataset to start"
    assert len(fig.data) == 0 and fig.layout.xaxis.visible is False
    serialises(fig)


def test_map_string_hover_fields():
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":")
    coords = np.array([[a.info["homo"], a.info["lumo"]] for a in frames])
    smiles = np.array([a.info["smiles"] for a in frames])
    gap = np.array([a.info["gap"] for a in frames])
    fig = map_figure(coords, color=gap, color_name="gap", hover={"smiles": smiles, "gap": gap},
                     axis_titles=("HOMO", "LUMO"))  # fmt: skip
    cd = np.asarray(fig.data[0].customdata, dtype=object)
    assert [int(v) for v in cd[:, 0]] == list(range(len(frames)))
    assert list(cd[:, 2]) == list(smiles)  # gap is the colour column, not repeated
    assert fig.data[0].hovertemplate.count("gap") == 1
    serialises(fig)


def test_error_colours_diverge_around_zero_and_log_says_why_points_are_grey():
    from explorer.figures import DIVERGING_COLORSCALE, map_figure

    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    fig = map_figure(xy, color=np.array([-0.2, 0.5, 0.1, np.nan]), color_name="error", diverging=True)
    marker = fig.data[0].marker
    assert marker.cmin == -0.5 and marker.cmax == 0.5  # centred on 0
    assert marker.colorscale == map_figure(xy, color=np.ones(4), color_name="e", diverging=True).data[0].marker.colorscale
    assert DIVERGING_COLORSCALE == "RdBu_r"
    log = map_figure(xy, color=np.array([1.0, 10.0, -3.0, 0.0]), color_name="gap", log_color=True)
    assert [t.name for t in log.data] == ["gap", "no value / ≤ 0 (no log)"]


def test_marker_size_has_a_legend():
    from explorer.figures import map_figure

    xy = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.5]])
    fig = map_figure(xy, size=np.array([2.0, np.nan, 8.5]), size_name="volume")
    (note,) = fig.layout.annotations
    assert note.text == "marker size: volume, ○ 2 … ◯ 8.5"
    assert not map_figure(xy).layout.annotations
