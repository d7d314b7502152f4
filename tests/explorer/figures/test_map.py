"""Tests of explorer.figures.map (the map, its colours and its level of detail), on real data,
without a browser.

Values are read from the trace attributes in Python (``np.asarray(trace.customdata)``), never
from ``to_dict()``/JSON, where plotly encodes numpy arrays as base64 ``{"dtype", "bdata"}``.
"""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np
import plotly.graph_objects as go
import pytest

from explorer.figures import MISSING_COLOR, NOISE_COLOR, cluster_sizes_figure, decimate, map_figure

DATA = Path(__file__).resolve().parents[2] / "data"


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


def test_a_million_point_map_sends_a_bounded_figure(million):
    """The work is bounded by decimation (at most 50,000 points drawn and sent), not by the
    input's size; its speed is measured by ``python -m explorer.bench``, not asserted here."""
    pts, color = million
    fig = map_figure(pts, color=color, color_name="c", hover={"c2": color})
    assert len(all_rows(fig)) == 50_000
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
