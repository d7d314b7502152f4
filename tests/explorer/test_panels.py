"""The logic of the dataset, descriptors, map and viewer panels, called directly (no browser) with a
real ``Store`` in a temporary folder, as the callbacks call it.

Small SOAP hyperparameters keep the featurization quick; the datasets are real (QM9 molecules,
C-GAP-20U carbon, CSD-1000R crystals with listed environments, the bundled sample).
"""

from __future__ import annotations

import hashlib

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from ase.io import read

from compute import maps
from compute.datasets import DatasetError
from compute.descriptors import SoapPowerSpectrum
from explorer.panels import dataset as dataset_panel
from explorer.panels import descriptors, viewer
from explorer.panels import map as map_panel
from explorer.rows import CLUSTER, ERROR, PREDICTED, atom_row_positions, map_rows
from explorer.store import Store, make_key

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA = REPO_ROOT / "tests" / "data"
SAMPLE = REPO_ROOT / "sample_datasets" / "small_molecules-1000.xyz"
QM9 = DATA / "explore_qm9.xyz"
SAMPLE_XYZ = REPO_ROOT / "sample_datasets" / "small_molecules-1000.xyz"
CGAP = DATA / "explore_c-gap-20u.xyz"
CSD = DATA / "CSD-1000R.chemiscope.json"
HYPERS = {"cutoff": 3.5, "n_max": 4, "l_max": 3, "density_width": 0.4}
MB = 1024 * 1024


def data_url(data: bytes, mime: str = "application/octet-stream") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def points(fig: go.Figure) -> np.ndarray:
    """customdata[0] of every drawn point, over all traces."""
    return np.concatenate([np.asarray(t.customdata)[:, 0].astype(np.int64) for t in fig.data if t.customdata is not None and len(t.customdata)])


def colorbar_titles(fig: go.Figure) -> list[str]:
    return [t.marker.colorbar.title.text for t in fig.data if t.marker is not None and t.marker.showscale]


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


@pytest.fixture
def qm9(store):
    dataset_state, _ = dataset_panel.accept_upload(store, data_url(QM9.read_bytes()), "explore_qm9.xyz", 10 * MB)
    return dataset_state


@pytest.fixture
def qm9_features(store, qm9):
    return descriptors.compute_features(store, qm9["id"], HYPERS, "structure", backend="numba")


# --------------------------------------------------------------------------------------------------
# dataset panel


def test_accept_upload_good_file(store):
    state, message = dataset_panel.accept_upload(store, data_url(QM9.read_bytes()), "explore_qm9.xyz", 10 * MB)
    assert set(state) == {"id", "name"} and state["name"] == "explore_qm9.xyz"
    assert len(state["id"]) == 64
    assert message == "Opened explore_qm9.xyz: 5 structures, 19 atoms (C, H, N, O)."
    assert store.dataset(state["id"]).n_atoms == 19
    # the same upload twice is the same dataset
    assert dataset_panel.accept_upload(store, data_url(QM9.read_bytes()), "explore_qm9.xyz", 10 * MB)[0]["id"] == state["id"]


def test_hostile_file_name_never_becomes_a_path(store, tmp_path):
    state, _ = dataset_panel.accept_upload(store, data_url(QM9.read_bytes()), "../../etc/passwd.xyz", 10 * MB)
    written = sorted(str(p.relative_to(store.root)) for p in store.root.rglob("*") if p.is_file())
    content = hashlib.sha256(QM9.read_bytes()).hexdigest()
    assert written == [f"blobs/{content}.raw", f"datasets/{state['id']}.json", "server.key"]
    assert not any("passwd" in str(p) for p in tmp_path.rglob("*"))
    assert store.dataset(state["id"]).n_structures == 5


@pytest.mark.parametrize(
    "contents",
    [
        "data:application/octet-stream;base64,!!!not base64!!!",
        "data:application/octet-stream;base64,QUJD=x",  # padding in the middle
        "no comma at all",
        None,
        12,
    ],
)
def test_damaged_upload_names_the_file(store, contents):
    with pytest.raises(DatasetError, match=r"mine\.xyz.*damaged"):
        dataset_panel.decode_upload(contents, "mine.xyz")
    with pytest.raises(DatasetError, match=r"mine\.xyz"):
        dataset_panel.accept_upload(store, contents, "mine.xyz", 10 * MB)
    assert not list(store.root.rglob("*.raw"))


def test_decode_upload_round_trip():
    data = bytes(range(256)) * 3
    assert dataset_panel.decode_upload(data_url(data), "x.bin") == data


@pytest.mark.parametrize("name", ["truncated.xyz", "malformed_number.xyz", "zero_atoms.xyz", "empty.xyz", "object_array.npz", "notes.txt"])
def test_bad_file_raises_naming_it_and_stores_nothing(store, name):
    with pytest.raises(DatasetError, match=name.replace(".", r"\.")):
        dataset_panel.accept_upload(store, data_url((DATA / "bad" / name).read_bytes()), name, 10 * MB)
    assert not list(store.root.rglob("*.raw"))


def test_upload_over_the_limit_is_refused(store):
    with pytest.raises(DatasetError, match="explore_qm9.xyz"):
        dataset_panel.accept_upload(store, data_url(QM9.read_bytes()), "explore_qm9.xyz", 1_000)


def test_summary_and_property_table(store):
    state, _ = dataset_panel.accept_upload(store, data_url(CGAP.read_bytes()), "explore_c-gap-20u.xyz", 10 * MB)
    dataset = store.dataset(state["id"])
    text = str(dataset_panel.summary_children(dataset))
    assert "explore_c-gap-20u.xyz" in text and "243" in text
    rows, columns = dataset_panel.table_data(dataset.structure_properties)
    assert len(rows) == 5
    headers = {c["headerName"]: c for c in columns}
    assert "energy" in headers and "config_type" in headers
    assert headers["energy"].get("filter") == "agNumberColumnFilter"
    energy_key = headers["energy"]["field"]
    assert all(isinstance(r[energy_key], float) for r in rows)
    # NaN shows as empty, strings stay strings, field names are safe whatever the column name
    table = pd.DataFrame({"forces[1]": [1.0, np.nan], "kind": ["a", None]})
    rows, columns = dataset_panel.table_data(table)
    assert [c["field"] for c in columns] == ["row", "c0", "c1"]
    assert rows == [{"row": 0, "c0": 1.0, "c1": "a", "id": "0"}, {"row": 1, "c0": None, "c1": "", "id": "1"}]
    # explicit types: the grid must not keep a type inferred for another dataset's column
    assert [c["cellDataType"] for c in columns] == ["number", "number", "text"]


# --------------------------------------------------------------------------------------------------
# descriptors panel


def test_read_hypers():
    assert descriptors.read_hypers(5, 8, 6, 0.3) == {"cutoff": 5.0, "n_max": 8, "l_max": 6, "density_width": 0.3}
    assert descriptors.read_hypers(**descriptors.DEFAULT_HYPERS) == descriptors.DEFAULT_HYPERS
    for name in ("cutoff", "n_max", "l_max", "density_width"):
        values = dict(descriptors.DEFAULT_HYPERS, **{name: None})
        with pytest.raises(ValueError, match=name):
            descriptors.read_hypers(**values)
    with pytest.raises(ValueError, match="cutoff"):
        descriptors.read_hypers(-1.0, 8, 6, 0.3)
    with pytest.raises(ValueError, match="n_max"):
        descriptors.read_hypers(5.0, 0, 6, 0.3)
    # the inputs' ranges are enforced by the server, not only by the browser
    with pytest.raises(ValueError, match="cutoff=100 is outside"):
        descriptors.read_hypers(100.0, 8, 6, 0.3)
    with pytest.raises(ValueError, match="l_max=16 is outside"):
        descriptors.read_hypers(5.0, 8, 16, 0.3)


def test_compute_features_per_structure_cached(store, qm9, monkeypatch):
    state = descriptors.compute_features(store, qm9["id"], HYPERS, "structure", backend="numba")
    assert state["dataset"] == qm9["id"] and state["per"] == "structure" and state["n_rows"] == 5
    assert state["hypers"] == HYPERS
    features, names = descriptors.load_features(store, state)
    assert features.shape[0] == 5 and len(names) == features.shape[1]
    reference = SoapPowerSpectrum(**HYPERS).compute(read(str(QM9), index=":"), per="structure", backend="numba")
    assert np.allclose(features, reference)

    # the second call finds the cache: nothing is computed again
    def fail(*args, **kwargs):
        raise AssertionError("features recomputed despite the cache")

    monkeypatch.setattr(SoapPowerSpectrum, "compute", fail)
    assert descriptors.compute_features(store, qm9["id"], HYPERS, "structure", backend="numba") == state
    # other hyperparameters are another entry
    with pytest.raises(AssertionError, match="recomputed"):
        descriptors.compute_features(store, qm9["id"], dict(HYPERS, cutoff=3.0), "structure", backend="numba")


def test_per_atom_rows_match_map_rows(store, qm9):
    state = descriptors.compute_features(store, qm9["id"], HYPERS, "atom", backend="numba")
    dataset = store.dataset(qm9["id"])
    rows = map_rows(dataset, "atom")
    assert state["per"] == "atom" and state["n_rows"] == len(rows) == 19
    features, _ = descriptors.load_features(store, state)
    assert features.shape[0] == 19
    per_atom = SoapPowerSpectrum(**HYPERS).compute(dataset.structures, per="atom", backend="numba")
    assert np.allclose(features, per_atom)


def test_per_atom_rows_follow_listed_environments(store):
    """A chemiscope file lists its environments: the map has one row per listed environment."""
    state, _ = dataset_panel.accept_upload(store, data_url(CSD.read_bytes()), CSD.name, 50 * MB)
    dataset = store.dataset(state["id"])
    features_state = descriptors.compute_features(store, state["id"], HYPERS, "atom", backend="numba")
    rows = map_rows(dataset, "atom")
    assert features_state["n_rows"] == len(rows) == len(dataset.environments)
    features, _ = descriptors.load_features(store, features_state)
    per_atom = SoapPowerSpectrum(**HYPERS).compute(dataset.structures, per="atom", backend="numba")
    assert np.allclose(features, per_atom[atom_row_positions(dataset, rows)])
    np.testing.assert_array_equal(rows.structure, dataset.environments["structure"].to_numpy())
    np.testing.assert_array_equal(rows.atom, dataset.environments["center"].to_numpy())


def features_table_bytes(n=12, f=4, seed=0) -> tuple[bytes, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, f))
    table = pd.DataFrame(X, columns=[f"feature_{k}" for k in range(f)])
    table["energy"] = X[:, 0] * 2 + 0.1 * rng.normal(size=n)
    table["label"] = ["a", "b", "c"] * (n // 3)
    buffer = io.StringIO()
    table.to_csv(buffer, index=False)
    return buffer.getvalue().encode(), X


def test_features_table_maps_its_own_features(store):
    data, X = features_table_bytes()
    state, message = dataset_panel.accept_upload(store, data_url(data, "text/csv"), "table.csv", 10 * MB)
    assert "features table, 12 rows × 4 features" in message
    # SOAP settings and per-atom mode do not apply to a table
    features_state = descriptors.compute_features(store, state["id"], HYPERS, "atom")
    assert features_state["per"] == "structure" and features_state["hypers"] == {} and features_state["n_rows"] == 12
    features, names = descriptors.load_features(store, features_state)
    assert np.allclose(features, X)
    assert names == [f"feature_{k}" for k in range(4)]
    map_state = map_panel.compute_map(store, features_state, "pcovr", "structure:energy", 0.5)
    fig = map_panel.draw_map(store, map_state, color_by="structure:label")
    assert sorted(points(fig)) == list(range(12))
    # a features table has no structure to show
    view = viewer.structure_view(store, state["id"], "structure", 0, None, None)
    assert view.payload is None and view.structure is None and "features table" in str(view.details)
    assert view.outputs()[1:] == (viewer.HIDDEN, view.details, "", "")


# --------------------------------------------------------------------------------------------------
# map panel


def test_map_options(store, qm9):
    color, size, target, default_colour, default_target = map_panel.map_options(store, qm9, "structure")
    values = [o["value"] for o in color]
    assert "structure:gap" in values and "structure:smiles" in values
    assert values[-4:] == [PREDICTED, ERROR, "map:abs-error", CLUSTER]
    assert "structure:smiles" not in [o["value"] for o in target]  # targets are numeric
    assert size == target
    assert default_colour == default_target and default_target in [o["value"] for o in target]
    # per-atom mode offers the per-atom properties too, and colours by the centre's element
    color_atom, _, target_atom, default_atom, _ = map_panel.map_options(store, qm9, "atom")
    assert "atom:partial_charges" in [o["value"] for o in color_atom]
    assert "atom:partial_charges" in [o["value"] for o in target_atom]
    assert default_atom == "atom:element" and "atom:element" not in [o["value"] for o in target_atom]


def test_sensible_property_choices(store):
    """Reader bookkeeping is never offered, energies come first, 3-vectors get their length."""
    from compute.datasets import read_dataset
    from explorer.rows import default_color, first_numeric_property, map_rows, property_options, property_values

    sample = read_dataset(SAMPLE_XYZ)
    assert {"cutoff", "nneightol"} <= set(sample.structure_properties.columns)  # in the file...
    labels = [o["label"] for o in property_options(sample, "structure")]
    assert "cutoff" not in labels and "nneightol" not in labels  # ...but no property
    assert first_numeric_property(sample, "structure") == "structure:dft_formation_energy_per_atom_in_eV"

    mc3d = read_dataset(DATA / "explore_mc3d.xyz")
    options = {o["value"]: o["label"] for o in property_options(mc3d, "atom", numeric_only=True)}
    assert options["atom:|forces|"] == "|forces| (atom)"
    rows = map_rows(mc3d, "atom")
    lengths = property_values(mc3d, rows, "atom:|forces|")
    forces = np.concatenate([a.get_forces() for a in read(str(DATA / "explore_mc3d.xyz"), index=":")])
    np.testing.assert_allclose(lengths, np.linalg.norm(forces, axis=1))
    elements = property_values(mc3d, rows, "atom:element")
    assert list(elements[: len(mc3d.structures[0])]) == mc3d.structures[0].get_chemical_symbols()
    assert first_numeric_property(mc3d, "structure") == "structure:energy"
    assert default_color(mc3d, "atom") == "atom:element"


@pytest.mark.parametrize("method", list(maps.METHODS))
def test_compute_map_and_draw(store, qm9, qm9_features, method):
    target = "structure:gap"
    map_state = map_panel.compute_map(store, qm9_features, method, target, 0.5)
    assert map_state["method"] == method and map_state["dataset"] == qm9["id"]
    assert map_state["target"] == (target if method in maps.SUPERVISED else None)
    fig = map_panel.draw_map(store, map_state, color_by="structure:gap")
    assert sorted(points(fig)) == list(range(5))
    assert colorbar_titles(fig) == ["gap"]
    assert fig.layout.title.text.startswith(maps.METHODS[method])
    assert ("mixing 0.50" in fig.layout.title.text) == (method in maps.SUPERVISED)
    # cached: the same call returns the same state without fitting again
    assert map_panel.compute_map(store, qm9_features, method, target, 0.5) == map_state


def test_move_mixing_equals_a_fresh_fit(store, qm9, qm9_features):
    map_state = map_panel.compute_map(store, qm9_features, "pcovr", "structure:gap", 0.5)
    at_half = store.load_arrays(map_state["coords"])["coordinates"]
    moved = map_panel.move_mixing(store, map_state, qm9_features, 0.2)
    assert moved["mixing"] == 0.2 and moved["model"] == map_state["model"] and moved["coords"] != map_state["coords"]
    at_02 = store.load_arrays(moved["coords"])["coordinates"]
    X, _ = descriptors.load_features(store, qm9_features)
    y = store.dataset(qm9["id"]).structure_properties["gap"].to_numpy()
    fresh = maps.project(X, "pcovr", y=y, mixing=0.2, n_components=at_02.shape[1]).coordinates
    assert np.allclose(at_02, fresh, atol=1e-8)
    assert not np.allclose(at_02, at_half)
    assert "mixing 0.20" in map_panel.draw_map(store, moved).layout.title.text
    # a map asked for at another mixing after the model is cached starts at that mixing
    again = map_panel.compute_map(store, qm9_features, "pcovr", "structure:gap", 0.2)
    assert np.allclose(store.load_arrays(again["coords"])["coordinates"], fresh, atol=1e-8)
    # PCA has no mixing: unchanged
    pca = map_panel.compute_map(store, qm9_features, "pca", None, 0.5)
    assert map_panel.move_mixing(store, pca, qm9_features, 0.1) == pca


def test_map_errors(store, qm9, qm9_features):
    with pytest.raises(ValueError, match="smiles.*not numeric"):
        map_panel.compute_map(store, qm9_features, "pcovr", "structure:smiles", 0.5)
    with pytest.raises(ValueError, match="needs a target"):
        map_panel.compute_map(store, qm9_features, "kpcovr", None, 0.5)


@pytest.fixture(scope="module")
def sample_map(tmp_path_factory):
    """Per-structure SOAP and PCovR on the bundled sample, with its predictions."""
    store = Store(tmp_path_factory.mktemp("sample-store"))
    dataset_id = store.add_dataset_file(SAMPLE)
    features_state = descriptors.compute_features(store, dataset_id, HYPERS, "structure", backend="numba")
    target = "structure:dft_formation_energy_per_atom_in_eV"
    map_state = map_panel.compute_map(store, features_state, "pcovr", target, 0.5)
    predictions = map_panel.compute_predictions(store, features_state, target)
    return store, dataset_id, features_state, map_state, predictions


def test_draw_map_one_point_per_structure_with_colours(sample_map):
    store, dataset_id, features_state, map_state, predictions = sample_map
    name = "dft_formation_energy_per_atom_in_eV"
    energy = np.array([a.info[name] for a in read(str(SAMPLE), index=":")])
    fig = map_panel.draw_map(store, map_state, color_by=f"structure:{name}")
    assert sorted(points(fig)) == list(range(985))
    assert colorbar_titles(fig) == [name]
    assert len(fig.data[0].customdata) == 985

    predicted = map_panel.draw_map(store, map_state, color_by=PREDICTED, prediction_state=predictions)
    assert colorbar_titles(predicted) == [f"predicted {name}"]
    assert sorted(points(predicted)) == list(range(985))
    arrays = store.load_arrays(predictions["key"])
    assert np.allclose(arrays["target"], energy)
    rmse = np.sqrt(np.mean((arrays["predicted"] - energy) ** 2))
    assert rmse < energy.std(), "out-of-fold predictions must beat the mean"

    error = map_panel.draw_map(store, map_state, color_by=ERROR, prediction_state=predictions)
    assert colorbar_titles(error) == [f"error in {name} (predicted − reference)"]
    rows = np.asarray(error.data[0].customdata)[:, 0].astype(int)
    assert np.allclose(np.asarray(error.data[0].marker.color, dtype=float), (arrays["predicted"] - energy)[rows])
    # predictions or clusters not computed yet: drawn without colours, never dropped
    for choice in (PREDICTED, ERROR, CLUSTER):
        plain = map_panel.draw_map(store, map_state, color_by=choice)
        assert sorted(points(plain)) == list(range(985)) and colorbar_titles(plain) == []


def test_colour_by_cluster(sample_map):
    store, dataset_id, features_state, map_state, _ = sample_map
    labels = np.arange(985) % 3
    key = make_key("clusters-test", features_state["key"])
    store.save_arrays(key, labels=labels)
    fig = map_panel.draw_map(store, map_state, color_by=CLUSTER, cluster_state={"key": key, "features": features_state["key"]})
    assert sorted(points(fig)) == list(range(985))
    assert len([t for t in fig.data if t.showlegend]) == 3  # categorical: one legend entry per cluster


def test_nan_colour_property_greys_not_drops(store):
    """QM9 molecules where two lack ``gap``: those points are drawn grey ("no value"), not dropped."""
    from ase.io import write

    molecules = read(str(QM9), index=":")
    for k in (1, 3):
        del molecules[k].info["gap"]
    buffer = io.StringIO()
    write(buffer, molecules, format="extxyz")
    state, _ = dataset_panel.accept_upload(store, data_url(buffer.getvalue().encode()), "partial-gap.xyz", 10 * MB)
    assert store.dataset(state["id"]).structure_properties["gap"].isna().sum() == 2
    features_state = descriptors.compute_features(store, state["id"], HYPERS, "structure", backend="numba")
    map_state = map_panel.compute_map(store, features_state, "pca", None, 0.5)
    fig = map_panel.draw_map(store, map_state, color_by="structure:gap")
    assert sorted(points(fig)) == list(range(5))
    grey = [t for t in fig.data if t.name == "no value"]
    assert len(grey) == 1
    assert sorted(np.asarray(grey[0].customdata)[:, 0].astype(int)) == [1, 3]


def test_nan_target_rows_still_on_the_map(store, qm9, qm9_features):
    """A target missing on some rows: fitted on the others, every row drawn."""
    data, X = features_table_bytes(n=30, f=5, seed=3)
    table = pd.read_csv(io.BytesIO(data))
    table.loc[[2, 11, 17], "energy"] = np.nan
    state, _ = dataset_panel.accept_upload(store, data_url(table.to_csv(index=False).encode()), "partial.csv", 10 * MB)
    features_state = descriptors.compute_features(store, state["id"], {}, "structure")
    map_state = map_panel.compute_map(store, features_state, "kpcovr", "structure:energy", 0.5)
    coordinates = store.load_arrays(map_state["coords"])["coordinates"]
    assert coordinates.shape[0] == 30 and np.all(np.isfinite(coordinates))
    fig = map_panel.draw_map(store, map_state, color_by="structure:energy")
    assert sorted(points(fig)) == list(range(30))
    assert sorted(np.asarray([t for t in fig.data if t.name == "no value"][0].customdata)[:, 0].astype(int)) == [2, 11, 17]


def test_draw_map_axes_dims_size_selection(store, qm9, qm9_features):
    map_state = map_panel.compute_map(store, qm9_features, "pca", None, 0.5)
    fig3 = map_panel.draw_map(store, map_state, dims=3, axes=(0, 1, 2))
    assert fig3.data[0].type == "scatter3d" and sorted(points(fig3)) == list(range(5))
    swapped = map_panel.draw_map(store, map_state, axes=(1, 0, 2))
    assert swapped.layout.xaxis.title.text == "PC2" and swapped.layout.yaxis.title.text == "PC1"
    # impossible axes (same twice) fall back to the first components
    same = map_panel.draw_map(store, map_state, axes=(1, 1, 2))
    assert same.layout.xaxis.title.text == "PC1"
    sized = map_panel.draw_map(store, map_state, size_by="structure:gap")
    sizes = np.asarray(sized.data[0].marker.size, dtype=float)
    assert sizes.shape == (5,) and sizes.min() < sizes.max()
    selected = map_panel.draw_map(store, map_state, selection={"rows": [1, 3], "source": "lasso"})
    assert sorted(points(selected)) == list(range(5))
    assert sorted(selected.data[0].selectedpoints) == sorted(
        [i for i, r in enumerate(np.asarray(selected.data[0].customdata)[:, 0].astype(int)) if r in (1, 3)])
    svg = map_panel.draw_map(store, map_state, vector=True)
    assert svg.data[0].type == "scatter"


def test_per_atom_map_one_point_per_environment(store, qm9):
    features_state = descriptors.compute_features(store, qm9["id"], HYPERS, "atom", backend="numba")
    map_state = map_panel.compute_map(store, features_state, "pcovr", "atom:partial_charges", 0.5)
    fig = map_panel.draw_map(store, map_state, color_by="atom:partial_charges")
    assert sorted(points(fig)) == list(range(19))
    assert colorbar_titles(fig) == ["partial_charges"]
    assert "environment" in fig.data[0].hovertemplate


# --------------------------------------------------------------------------------------------------
# viewer panel


def test_structure_view_attributes(store, qm9):
    molecules = read(str(QM9), index=":")
    for row in range(5):
        view = viewer.structure_view(store, qm9["id"], "structure", row, None, None)
        payload, style, details, index, count = view.outputs()
        assert (index, count) == (str(row), str(len(molecules[row])))
        assert style == viewer.SHOWN
        assert molecules[row].get_chemical_formula() in payload["title"]
        assert "gap" in str(details)
    with pytest.raises(IndexError, match="row 5"):
        viewer.structure_view(store, qm9["id"], "structure", 5, None, None)
    assert viewer.message("nothing").outputs()[3:] == ("", "")


def test_viewer_refuses_structures_over_its_atom_budget(store, qm9, monkeypatch):
    monkeypatch.setenv("EXPLORER_MAX_VIEWER_ATOMS", "3")
    view = viewer.structure_view(store, qm9["id"], "structure", 0, None, None)  # CH4: 5 atoms
    assert view.payload is None and (view.structure, view.n_atoms) == (0, 5)
    assert "atom count is 5, over the limit of 3" in str(view.details) and "EXPLORER_MAX_VIEWER_ATOMS" in str(view.details)


def test_structure_view_per_atom(store, qm9):
    molecules = read(str(QM9), index=":")
    starts = np.cumsum([0] + [len(m) for m in molecules])
    for environment in (0, 6, 18):
        structure = int(np.searchsorted(starts, environment, side="right") - 1)
        view = viewer.structure_view(store, qm9["id"], "atom", environment, 3.5, "partial_charges")
        assert (view.structure, view.n_atoms) == (structure, len(molecules[structure]))
        title = view.payload["title"]
        assert f"centre atom {environment - starts[structure]}" in title


def test_arrow_keys_step_through_rows_and_structures():
    from explorer.rows import Rows

    per_atom = Rows("atom", np.array([0, 0, 0, 1, 1, 2]), np.array([0, 1, 2, 0, 1, 0]))
    assert viewer.step_row(per_atom, 1, +1, "atom") == 2
    assert viewer.step_row(per_atom, 2, +1, "atom") == 3  # the next atom may be in the next structure
    assert viewer.step_row(per_atom, 1, +1, "structure") == 3  # first atom of the next structure
    assert viewer.step_row(per_atom, 4, -1, "structure") == 0  # first atom of the previous one
    assert viewer.step_row(per_atom, 5, +1, "structure") == 5  # the last stays
    assert viewer.step_row(per_atom, 0, -1, "atom") == 0
    assert viewer.step_row(per_atom, None, +1, "atom") == 0  # from nothing: the first row
    per_structure = Rows("structure", np.arange(4), None)
    assert viewer.step_row(per_structure, 2, +1, "structure") == 3
    assert viewer.step_row(per_structure, 2, -1, "atom") == 1
    assert viewer.first_row_of_structure(per_atom, 1) == 3
    with pytest.raises(IndexError):
        viewer.first_row_of_structure(per_atom, 9)


def test_quick_arrow_presses_all_count():
    from explorer.rows import Rows

    rows = Rows("structure", np.arange(10), None)
    assert viewer.follow_steps(rows, {"base": 8, "steps": -2, "level": "atom"}) == 6
    assert viewer.follow_steps(rows, {"base": 8, "steps": 5, "level": "atom"}) == 9  # stays on the map
    assert viewer.follow_steps(rows, {"base": None, "steps": 1, "level": "atom"}) == 0
    assert viewer.follow_steps(rows, {"base": None, "steps": 3, "level": "atom"}) == 2
    per_atom = Rows("atom", np.array([0, 0, 1, 1, 2]), np.array([0, 1, 0, 1, 0]))
    assert viewer.follow_steps(per_atom, {"base": 0, "steps": 2, "level": "structure"}) == 4


def test_mixing_slider_only_for_methods_that_mix():
    assert map_panel.mixing_control("pca")[0] is True and "PCovR" in map_panel.mixing_control("kpca")[1]
    assert map_panel.mixing_control("pcovr")[0] is False and map_panel.mixing_control("kpcovr")[0] is False


def test_map_axes_from_components_or_properties(store, qm9):
    from compute.datasets import read_dataset
    from explorer.rows import map_rows

    dataset = read_dataset(QM9)
    rows = map_rows(dataset, "structure")
    coordinates = np.arange(15.0).reshape(5, 3)
    titles = ["PC1", "PC2", "PC3"]
    xy, names = map_panel.map_axes(dataset, rows, coordinates, titles, [0, "structure:gap"])
    np.testing.assert_array_equal(xy[:, 0], coordinates[:, 0])
    np.testing.assert_allclose(xy[:, 1], dataset.structure_properties["gap"].to_numpy(dtype=float))
    assert names == ["PC1", "gap"]
    # text properties, unknown names and repeats fall back to the components
    for bad in ([0, "structure:smiles"], [0, "structure:nothing"], [1, 1]):
        assert map_panel.map_axes(dataset, rows, coordinates, titles, bad)[1] == ["PC1", "PC2"]
    # one component: drawn against zero
    one, one_names = map_panel.map_axes(dataset, rows, coordinates[:, :1], titles, [0, 1])
    assert one_names == ["PC1", ""] and not one[:, 1].any()
    options = map_panel.axis_options([{"label": "gap", "value": "structure:gap"}])
    assert [o["value"] for o in options] == [0, 1, 2, 3, "structure:gap"]


def test_kernel_maps_and_predictions_refuse_a_kernel_over_its_budget(featurized_molecules, monkeypatch):
    """The kernel (or Nyström features) is checked before it is built, and the refusal names
    its setting; a linear map needs no kernel."""
    store, _, features_state = featurized_molecules
    monkeypatch.setenv("EXPLORER_MAX_KERNEL_GB", "1e-6")  # 1 kB: less than 120 x 120 numbers
    with pytest.raises(ValueError, match=r"kernel matrix \(120 × 120 numbers\).*EXPLORER_MAX_KERNEL_GB"):
        map_panel.compute_map(store, features_state, "kpca", None, 0.5)
    with pytest.raises(ValueError, match="EXPLORER_MAX_KERNEL_GB"):
        map_panel.compute_predictions(store, features_state, "structure:dft_formation_energy_per_atom_in_eV")
    assert map_panel.compute_map(store, features_state, "pca", None, 0.5)["method"] == "pca"


def _in_callback(triggers: list[str], function, *args):
    """Run ``function`` as Dash runs a callback fired by ``triggers`` ("id.prop" each)."""
    import contextvars

    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": t, "value": None} for t in triggers]))
        return function(*args)

    return contextvars.copy_context().run(run)


def test_a_new_map_that_arrives_with_a_cleared_selection_is_drawn(featurized_molecules, monkeypatch):
    """The renderer may fire the map's drawing callback once for a new map *and* the selection
    it clears (a new dataset): the map must be drawn. Only a selection alone skips the redraw (the
    browser shows it). Before, the first trigger alone decided and such a map never appeared."""
    from dash import no_update

    from explorer import state
    from explorer.panels import map as map_panel

    store, dataset_state, features_state = featurized_molecules
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(store.root))
    map_state = map_panel.compute_map(store, features_state, "pca", None, 0.5)
    args = (map_state, None, [], None, 2, None, None, None, {"rows": []}, None, None, [], dataset_state, None)
    both = _in_callback([f"{state.SELECTION}.data", f"{state.MAP}.data"], map_panel.on_draw, *args)
    assert both is not no_update and len(both.data) >= 1
    assert _in_callback([f"{state.SELECTION}.data"], map_panel.on_draw, *args) is no_update
    assert _in_callback([f"{state.MAP}.data"], map_panel.on_draw, *args) is not no_update


@pytest.mark.parametrize("descriptor", ["radial", "bispectrum"])
def test_other_descriptors_make_their_own_features(store, qm9, descriptor):
    """The descriptor choice reaches compute: its own features, names and cache entry."""
    from compute.descriptors import make_descriptor

    hypers = dict(HYPERS, n_max=2, l_max=2)
    soap = descriptors.compute_features(store, qm9["id"], hypers, "atom", backend="numba")
    other = descriptors.compute_features(store, qm9["id"], hypers, "atom", backend="numba", descriptor=descriptor)
    assert other["key"] != soap["key"] and other["descriptor"] == descriptor and other["n_rows"] == soap["n_rows"]
    features, names = descriptors.load_features(store, other)
    calculator = make_descriptor(descriptor, **hypers)
    frames = read(str(QM9), index=":")
    assert names == calculator.feature_names(calculator.species_for(frames))
    np.testing.assert_allclose(features, calculator.compute(frames, backend="numba"))
    with pytest.raises(ValueError, match="unknown descriptor"):
        descriptors.compute_features(store, qm9["id"], hypers, "atom", descriptor="magic")


def test_the_descriptor_choice_is_part_of_the_view():
    from explorer import view_state

    view = view_state.from_query("?descriptor=bispectrum&per=atom&n_max=2")
    assert view == {"descriptor": "bispectrum", "per": "atom", "n_max": 2}
    assert view_state.from_query("?descriptor=rm%20-rf") == {}
    assert "descriptor=bispectrum" in view_state.to_query(view)


def test_a_descriptors_own_hyperparameters(store, qm9):
    """NICE compression and LODE settings: fields shown with their descriptor only, read with
    their ranges, ignored by the descriptors that do not take them."""
    assert set(descriptors.EXTRA_FIELDS) == {"compression", "smearing", "exponent"}
    styles = dict(zip(descriptors.EXTRA_FIELDS, descriptors.extra_field_styles("bispectrum")))
    assert styles["compression"] == {} and styles["smearing"] == {"display": "none"}
    styles = dict(zip(descriptors.EXTRA_FIELDS, descriptors.extra_field_styles("soap")))
    assert all(style == {"display": "none"} for style in styles.values())
    extras = {"compression": 4, "smearing": 1.0, "exponent": 1}
    assert descriptors.read_hypers(3.5, 4, 3, 0.4, "bispectrum", extras) == {**HYPERS, "compression": 4}
    assert descriptors.read_hypers(3.5, 4, 3, 0.4, "soap-lode", extras) == {**HYPERS, "smearing": 1.0, "exponent": 1}
    assert descriptors.read_hypers(3.5, 4, 3, 0.4, "soap", extras) == HYPERS
    with pytest.raises(ValueError, match="compression=-1 is outside"):
        descriptors.read_hypers(3.5, 4, 3, 0.4, "bispectrum", {**extras, "compression": -1})
    with pytest.raises(ValueError, match="exponent must be a whole number"):
        descriptors.read_hypers(3.5, 4, 3, 0.4, "soap-lode", {**extras, "exponent": 1.5})
    with pytest.raises(ValueError, match="smearing is empty"):
        descriptors.read_hypers(3.5, 4, 3, 0.4, "soap-lode", {"compression": 4})
    # a compressed bispectrum is fitted on the dataset, then computed: as compute's own
    hypers = {**HYPERS, "compression": 3}
    state = descriptors.compute_features(store, qm9["id"], hypers, "structure", backend="numba", descriptor="bispectrum")
    features, names = descriptors.load_features(store, state)
    from compute.descriptors import make_descriptor

    frames = store.dataset(qm9["id"]).structures
    reference = make_descriptor("bispectrum", **hypers).fit(frames, backend="numba")
    np.testing.assert_allclose(features, reference.compute(frames, per="structure", backend="numba"), rtol=1e-10, atol=1e-12)
    assert names == list(reference.feature_names(reference.species_for(frames)))
    # another descriptor on the same settings leaves the compression out (compare panel)
    radial = descriptors.compute_features(store, qm9["id"], hypers, "structure", backend="numba", descriptor="radial")
    assert radial["hypers"] == HYPERS
    # molecules are not periodic: SOAP+LODE says so
    with pytest.raises(ValueError, match="not periodic"):
        descriptors.compute_features(store, qm9["id"], {**HYPERS, "smearing": 1.0, "exponent": 1}, "structure", backend="numba",
                                     descriptor="soap-lode")
