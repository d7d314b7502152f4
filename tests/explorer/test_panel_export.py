"""The "Select & export" panel without a browser: a real store, real features and maps, each format
read back; FPS samples and feature columns against compute.selection; errors as messages."""

from __future__ import annotations

import io
import json
from pathlib import Path

import ase.io
from explorer.messages import text_of

from .conftest import run_callback
import numpy as np
import pandas as pd
import pytest

from compute.datasets import read_dataset
from compute.selection import CUR, FPS
from explorer.panels import export as panel
from explorer.panels.descriptors import compute_features, load_features
from explorer.panels.map import compute_map
from explorer.rows import CLUSTER, ERROR, map_rows
from explorer.store import Store, make_key

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "sample_datasets" / "small_molecules-1000.xyz"
CSD = REPO / "tests" / "data" / "CSD-1000R.chemiscope.json"
HYPERS = {"cutoff": 4.0, "n_max": 4, "l_max": 3, "density_width": 0.3}
N_SUBSET = 150


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return Store(tmp_path_factory.mktemp("store"))


@pytest.fixture(scope="module")
def molecules(store, tmp_path_factory):
    """150 sample molecules, per-structure features and a PCA map: the app's states."""
    frames = ase.io.read(SAMPLE, index=f":{N_SUBSET}")
    path = tmp_path_factory.mktemp("data") / "small molecules (subset)$.xyz"
    ase.io.write(path, frames, format="extxyz")
    dataset_id = store.add_dataset_file(path)
    features_state = compute_features(store, dataset_id, HYPERS, "structure", backend="numba")
    map_state = compute_map(store, features_state, "pca", None, 0.5)
    return {"dataset": {"id": dataset_id, "name": path.name}, "features": features_state, "map": map_state}


@pytest.fixture(scope="module")
def environments(store):
    """CSD-1000R (10 structures, 1362 environments) in per-atom mode."""
    dataset_id = store.add_dataset_file(CSD)
    features_state = compute_features(store, dataset_id, HYPERS, "atom", backend="numba")
    map_state = compute_map(store, features_state, "pca", None, 0.5)
    return {"dataset": {"id": dataset_id, "name": CSD.name}, "features": features_state, "map": map_state}


def _export(store, states, rows, fmt, **kwargs):
    return panel.export_selection(store, states["dataset"], states["features"], states["map"],
                                  {"rows": list(rows), "source": "lasso"}, fmt, **kwargs)


def _coordinates(store, states):
    return store.load_arrays(states["map"]["coords"])["coordinates"]


SELECTION = [5, 17, 3, 99, 140, 0]


# -- per structure -----------------------------------------------------------------------------------


def test_extxyz_has_exactly_the_selected_structures(store, molecules):
    data, filename = _export(store, molecules, SELECTION, "extxyz")
    assert filename == "small_molecules_subset-selection.xyz"
    original = store.dataset(molecules["dataset"]["id"])
    back = read_dataset(data, name="x.xyz")
    assert back.n_structures == len(SELECTION)
    for j, i in enumerate(SELECTION):
        assert back.structures[j].get_chemical_symbols() == original.structures[i].get_chemical_symbols()
        np.testing.assert_allclose(back.structures[j].positions, original.structures[i].positions, atol=1e-7)
    for column in original.structure_properties.columns:
        expected = original.structure_properties[column].to_numpy()[SELECTION]
        got = back.structure_properties[column].to_numpy()
        if pd.api.types.is_numeric_dtype(original.structure_properties[column]):
            np.testing.assert_allclose(got.astype(float), expected.astype(float), rtol=1e-12, equal_nan=True)
        else:
            assert [str(x) for x in got] == [str(x) for x in expected]
    assert back.structure_properties["source_index"].tolist() == SELECTION
    coords = _coordinates(store, molecules)
    np.testing.assert_allclose(back.structure_properties["PC1"], coords[SELECTION, 0], rtol=1e-12)
    np.testing.assert_allclose(back.structure_properties["PC2"], coords[SELECTION, 1], rtol=1e-12)


def test_ase_database_has_the_selected_structures_and_the_map(store, molecules, tmp_path):
    import ase.db

    data, filename = _export(store, molecules, SELECTION, "ase-db")
    assert filename == "small_molecules_subset-selection.db"
    path = tmp_path / filename
    path.write_bytes(data)
    original = store.dataset(molecules["dataset"]["id"])
    with ase.db.connect(str(path), type="db") as db:
        rows = list(db.select())
    assert [row.toatoms().get_chemical_symbols() for row in rows] == [original.structures[i].get_chemical_symbols() for i in SELECTION]
    back = read_dataset(data, name=filename)
    coords = _coordinates(store, molecules)
    np.testing.assert_allclose(back.structure_properties["PC1"], coords[SELECTION, 0], rtol=1e-12)
    assert back.structure_properties["source_index"].tolist() == SELECTION


def test_csv_rows_are_the_selection_with_map_coordinates(store, molecules):
    data, filename = _export(store, molecules, SELECTION, "csv")
    assert filename.endswith("-selection.csv")
    table = pd.read_csv(io.BytesIO(data))
    assert table["index"].tolist() == SELECTION
    coords = _coordinates(store, molecules)
    for k, title in enumerate(molecules["map"]["axis_titles"]):
        np.testing.assert_allclose(table[title], coords[SELECTION, k], rtol=1e-12)
    original = store.dataset(molecules["dataset"]["id"])
    column = "dft_formation_energy_per_atom_in_eV"
    np.testing.assert_allclose(table[column], original.structure_properties[column].to_numpy()[SELECTION], rtol=1e-12)


def test_csv_carries_predictions_errors_and_clusters(store, molecules):
    n = molecules["features"]["n_rows"]
    rng = np.random.default_rng(0)
    target, predicted = rng.normal(size=n), rng.normal(size=n)
    labels = rng.integers(0, 4, size=n)
    prediction_key = make_key("test-predictions", molecules["features"]["key"])
    store.save_arrays(prediction_key, predicted=predicted, target=target)
    cluster_key = make_key("test-clusters", molecules["features"]["key"])
    store.save_arrays(cluster_key, labels=labels)
    prediction_state = {"key": prediction_key, "target": "structure:dft_formation_energy_per_atom_in_eV", "features": molecules["features"]["key"]}
    cluster_state = {"key": cluster_key, "method": "kmeans", "n_clusters": 4, "features": molecules["features"]["key"]}
    data, _ = _export(store, molecules, SELECTION, "csv", prediction_state=prediction_state, cluster_state=cluster_state)
    table = pd.read_csv(io.BytesIO(data))
    np.testing.assert_allclose(table["predicted_dft_formation_energy_per_atom_in_eV"], predicted[SELECTION])
    np.testing.assert_allclose(table["error_dft_formation_energy_per_atom_in_eV"], (predicted - target)[SELECTION])
    assert table["cluster"].tolist() == labels[SELECTION].tolist()
    # predictions for other features are not this map's: left out
    stale = {**prediction_state, "features": "0" * 64}
    table = pd.read_csv(io.BytesIO(_export(store, molecules, SELECTION, "csv", prediction_state=stale)[0]))
    assert not any(c.startswith("predicted_") for c in table.columns)
    # chemiscope: coloured by cluster, labels as categories
    doc = json.loads(_export(store, molecules, SELECTION, "chemiscope", color_by=CLUSTER, cluster_state=cluster_state)[0])
    assert doc["settings"]["map"]["color"] == {"property": "cluster"}
    assert doc["properties"]["cluster"]["values"] == [str(v) for v in labels[SELECTION]]
    doc = json.loads(_export(store, molecules, SELECTION, "chemiscope", color_by=ERROR, prediction_state=prediction_state)[0])
    assert doc["settings"]["map"]["color"] == {"property": "error_dft_formation_energy_per_atom_in_eV"}


def test_npz_has_feature_rows_and_names(store, molecules):
    data, filename = _export(store, molecules, SELECTION, "npz")
    assert filename.endswith("-selection.npz")
    features, names = load_features(store, molecules["features"])
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["features"], features[SELECTION])
        assert npz["feature_names"].tolist() == names
        assert npz["index"].tolist() == SELECTION
        np.testing.assert_allclose(npz["PC1"], _coordinates(store, molecules)[SELECTION, 0])
        assert json.loads(str(npz["soap_hypers"])) == HYPERS
    table = read_dataset(data, name="back.npz")
    assert table.feature_names == names and table.n_structures == len(SELECTION)


def test_chemiscope_per_structure(store, molecules):
    color = "structure:dft_formation_energy_per_atom_in_eV"
    data, filename = _export(store, molecules, SELECTION, "chemiscope", color_by=color)
    assert filename.endswith("-selection.chemiscope.json")
    doc = json.loads(data)
    assert len(doc["structures"]) == len(SELECTION)
    coords = _coordinates(store, molecules)
    np.testing.assert_allclose(doc["properties"]["PC1"]["values"], coords[SELECTION, 0])
    np.testing.assert_allclose(doc["properties"]["PC2"]["values"], coords[SELECTION, 1])
    assert doc["settings"]["map"]["x"] == {"property": "PC1"}
    assert doc["settings"]["map"]["color"] == {"property": "dft_formation_energy_per_atom_in_eV"}
    assert "environments" not in doc
    back = read_dataset(data, name="sel.json")
    assert back.n_structures == len(SELECTION)


# -- per atom ----------------------------------------------------------------------------------------


def test_per_atom_exports(store, environments):
    dataset = store.dataset(environments["dataset"]["id"])
    rows = map_rows(dataset, "atom")
    selection = [0, 5, 400, 1361, 900]
    coords = _coordinates(store, environments)

    doc = json.loads(_export(store, environments, selection, "chemiscope", color_by="atom:chemical_shieldings")[0])
    structures = sorted(set(rows.structure[selection].tolist()))
    assert len(doc["structures"]) == len(structures)
    assert len(doc["environments"]) == len(selection)
    for env, r in zip(doc["environments"], selection):
        assert structures[env["structure"]] == rows.structure[r] and env["center"] == rows.atom[r]
        assert env["cutoff"] == HYPERS["cutoff"]
    assert doc["properties"]["PC1"]["target"] == "atom"
    np.testing.assert_allclose(doc["properties"]["PC1"]["values"], coords[selection, 0])
    assert doc["settings"]["map"]["color"] == {"property": "chemical_shieldings"}

    table = pd.read_csv(io.BytesIO(_export(store, environments, selection, "csv")[0]))
    assert table["environment"].tolist() == selection
    assert table["structure"].tolist() == rows.structure[selection].tolist()
    assert table["atom"].tolist() == rows.atom[selection].tolist()
    np.testing.assert_allclose(table["PC2"], coords[selection, 1])

    back = read_dataset(_export(store, environments, selection, "extxyz")[0], name="x.xyz")
    assert back.n_structures == len(structures)
    assert sum(bool(x) for x in back.atom_properties["selected"]) == len(selection)
    for j, s in enumerate(structures):
        np.testing.assert_allclose(back.structures[j].positions, dataset.structures[s].positions, atol=1e-7)

    with np.load(io.BytesIO(_export(store, environments, selection, "npz")[0]), allow_pickle=False) as npz:
        features, names = load_features(store, environments["features"])
        np.testing.assert_array_equal(npz["features"], features[selection])
        assert npz["feature_names"].tolist() == names
        assert npz["structure"].tolist() == rows.structure[selection].tolist()


# -- FPS and feature selection -----------------------------------------------------------------------


def test_fps_selection_equals_compute_selection(store, molecules):
    selection = panel.select_diverse(store, molecules["features"], 12)
    features, _ = load_features(store, molecules["features"])
    assert selection["source"] == "fps"
    assert len(set(selection["rows"])) == 12
    assert selection["rows"] == FPS(n_to_select=12).fit(features).selected_idx_.tolist()
    data, _ = _export(store, molecules, selection["rows"], "extxyz")
    assert read_dataset(data, name="x.xyz").n_structures == 12


@pytest.mark.parametrize("n", [0, -3, 2.5, None, "many", N_SUBSET + 1])
def test_fps_rejects_bad_counts(store, molecules, n):
    with pytest.raises(ValueError, match="number of rows to select"):
        panel.select_diverse(store, molecules["features"], n)


@pytest.mark.parametrize("method, selector", [("fps", FPS), ("cur", CUR)])
def test_feature_selection_npz(store, molecules, method, selector):
    features, names = load_features(store, molecules["features"])
    data, filename = panel.export_features(store, molecules["features"], {"rows": [], "source": None}, 7, method)
    assert filename == f"small_molecules_subset-features-{method}-7.npz"
    columns = selector(n_to_select=7, axis="features").fit(features).selected_idx_
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert npz["features"].shape == (N_SUBSET, 7)
        assert npz["feature_names"].tolist() == [names[c] for c in columns]
        np.testing.assert_array_equal(npz["features"], features[:, columns])
    # with a selection: only those rows, columns chosen on them
    data, _ = panel.export_features(store, molecules["features"], {"rows": SELECTION, "source": "lasso"}, 7, method)
    columns = selector(n_to_select=7, axis="features").fit(features[SELECTION]).selected_idx_
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        assert npz["index"].tolist() == SELECTION
        assert npz["feature_names"].tolist() == [names[c] for c in columns]
    with pytest.raises(ValueError, match="number of features"):
        panel.export_features(store, molecules["features"], None, features.shape[1] + 1, method)


# -- errors, names, callbacks -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", [value for value, _, _ in panel.FORMATS])
def test_empty_selection_is_an_error(store, molecules, fmt):
    with pytest.raises(ValueError, match="select points first"):
        _export(store, molecules, [], fmt)
    with pytest.raises(ValueError, match="does not belong to the current map"):
        _export(store, molecules, [N_SUBSET + 3], fmt)


def test_callbacks_report_errors_and_send_files(store, molecules, monkeypatch):
    monkeypatch.setenv("EXPLORER_DATA_DIR", str(store.root))
    args = (molecules["dataset"], molecules["features"], molecules["map"])
    download, message = run_callback(panel.on_export, 1, "extxyz", *args, {"rows": [], "source": None}, None, None, None)
    assert download is panel.no_update and "select points first" in text_of(message)
    assert message.className == "status-error"
    download, message = run_callback(panel.on_export, 1, "csv", *args, {"rows": [1, 2], "source": "lasso"}, None, None, None)
    assert download["filename"] == "small_molecules_subset-selection.csv" and download["base64"]
    assert "Exported 2 structures" in message
    selection, message = run_callback(panel.on_select_diverse, 1, 5, molecules["features"])
    assert len(selection["rows"]) == 5 and "(FPS)" in message
    selection, message = run_callback(panel.on_select_diverse, 1, 0, molecules["features"])
    assert selection is panel.no_update and "FPS selection not made" in text_of(message)
    download, message = run_callback(panel.on_export_features, 1, 3, "cur", molecules["features"], None)
    assert download["filename"].endswith("-features-cur-3.npz")
    assert panel.on_clear(1) == {"rows": [], "source": None}


def test_new_dataset_or_mode_clears_the_selection(molecules, environments):
    selection = {"rows": [1, 2], "source": "lasso"}
    _, context = panel.on_rows_changed(molecules["features"], None, selection)
    cleared, new_context = panel.on_rows_changed(environments["features"], context, selection)
    assert cleared == {"rows": [], "source": None} and new_context["per"] == "atom"
    assert panel.on_rows_changed(molecules["features"], context, selection) == (panel.no_update, panel.no_update)


def test_features_table_exports_npz_but_not_structures(store, molecules):
    features, names = load_features(store, molecules["features"])
    from compute.export import to_npz

    table_id = store.add_dataset(to_npz(features, names, np.arange(len(features))), "table.npz")
    features_state = compute_features(store, table_id, {}, "structure")
    states = {"dataset": {"id": table_id, "name": "table.npz"}, "features": features_state,
              "map": compute_map(store, features_state, "pca", None, 0.5)}
    with pytest.raises(ValueError, match="features table"):
        _export(store, states, [0, 1], "extxyz")
    data, filename = _export(store, states, [0, 1], "npz")
    assert filename == "table-selection.npz"


@pytest.mark.parametrize("name, stem", [
    ("small_molecules-1000.xyz", "small_molecules-1000"),
    ("../../etc/passwd", "passwd"),
    ("my data; rm -rf $HOME.extxyz", "my_data_rm_-rf_HOME"),
    ("CSD-1000R.chemiscope.json.gz", "CSD-1000R.chemiscope"),
    ("..hidden.xyz", "hidden"),
    ("été ☃.cif", "t"),
    ("", "dataset"),
    ("$$$.xyz", "dataset"),
])
def test_file_names_are_sanitised(name, stem):
    assert panel.safe_stem(name) == stem
    assert set(panel.safe_stem(name)) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


def test_interactive_selections_are_capped(tmp_path):
    """FPS and feature selection run in ordinary callbacks: the counts they accept are bounded."""
    import explorer.panels.export as export_panel

    rng = np.random.default_rng(0)
    features = rng.normal(size=(30, 400))
    with pytest.raises(ValueError, match="from 1 to 300"):
        export_panel.select_features(features, 301, "cur")
    assert len(export_panel.select_features(features, 301, "fps")) == 301


# -- the app's view in the chemiscope file ------------------------------------------------------------


def test_chemiscope_carries_the_apps_view(store, molecules):
    """Axes, 3D, log colour and marker size of the app become chemiscope settings; each map
    coordinate says what it is."""
    color = "structure:dft_formation_energy_per_atom_in_eV"
    view = {"dims": 3, "x": 1, "y": 0, "z": 2, "log": ["log"], "size": color}
    doc = json.loads(_export(store, molecules, SELECTION, "chemiscope", color_by=color, view=view)[0])
    settings = doc["settings"]["map"]
    assert (settings["x"], settings["y"], settings["z"]) == ({"property": "PC2"}, {"property": "PC1"}, {"property": "PC3"})
    assert settings["color"] == {"property": "dft_formation_energy_per_atom_in_eV", "scale": "log"}
    assert settings["size"] == {"property": "dft_formation_energy_per_atom_in_eV"}
    assert settings["palette"] == "viridis"
    description = doc["properties"]["PC1"]["description"]
    assert description.startswith("component 1 of ") and "cutoff=4.0" in description and "n_max=4" in description
    # 2D: no z axis; a property on an axis
    doc = json.loads(_export(store, molecules, SELECTION, "chemiscope",
                             view={"dims": 2, "x": color, "y": 0})[0])
    assert doc["settings"]["map"]["x"] == {"property": "dft_formation_energy_per_atom_in_eV"}
    assert doc["settings"]["map"]["z"] == {"property": ""}


def test_per_atom_chemiscope_coloured_by_a_structure_property(store, environments):
    """chemiscope colours environments by atom properties only: the structure property is written
    per environment too, and a periodic per-atom file asks for a 3x3x3 supercell."""
    selection = [0, 5, 400, 1361, 900]
    doc = json.loads(_export(store, environments, selection, "chemiscope", color_by="structure:ENERGY")[0])
    color = doc["settings"]["map"]["color"]["property"]
    assert doc["properties"][color]["target"] == "atom" and len(doc["properties"][color]["values"]) == len(selection)
    assert doc["properties"]["ENERGY"]["target"] == "structure"
    assert doc["settings"]["structure"][0]["supercell"] == [3, 3, 3]


def test_npz_layout_is_the_one_of_featurize(store, environments, tmp_path):
    """The app's NPZ and ``structure-explorer featurize`` write the same keys, labels and hypers."""
    from compute.featurize import featurize

    selection = [0, 5, 400]
    with np.load(io.BytesIO(_export(store, environments, selection, "npz")[0]), allow_pickle=False) as npz:
        app = {k: npz[k] for k in npz.files}
    featurize(CSD, tmp_path / "f.npz", per="atom", progress=False, backend="numba", **HYPERS)
    with np.load(tmp_path / "f.npz", allow_pickle=False) as npz:
        cli = {k: npz[k] for k in npz.files}
    assert set(cli) <= set(app)
    assert sorted(json.loads(str(app["hypers"]))) == sorted(json.loads(str(cli["hypers"])))
    np.testing.assert_array_equal(app["feature_labels"], cli["feature_labels"])
    assert app["feature_label_names"].tolist() == ["neighbor_1_type", "neighbor_2_type", "l", "n_1", "n_2"]
    rows = map_rows(store.dataset(environments["dataset"]["id"]), "atom")
    np.testing.assert_array_equal(app["center_type"], cli["center_type"][selection])
    assert app["structure"].tolist() == rows.structure[selection].tolist()
    np.testing.assert_allclose(app["CS_local"], cli["CS_local"][selection], equal_nan=True)
