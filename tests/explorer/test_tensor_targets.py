"""A whole vector or tensor property (a dipole, a polarizability) as the app's target: offered in
the target and learning-curve lists, predicted out of fold by the λ-SOAP model of
``compute.tensors`` (the same numbers the panel would show), the map coloured by the norm of the
error, a parity plot of every component, a supervised map on all components, and exports in the
property's own layout. Real data: ``showcase.xyz`` (29 molecules with dipoles and 6-component
polarizabilities) and ``alpha-mu.xyz`` (per-atom polarizabilities)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from compute import defaults, tensors
from compute.datasets import read_dataset
from explorer.panels import dataset as dataset_panel
from explorer.panels import descriptors
from explorer.panels import map as map_panel
from explorer.rows import ABS_ERROR, ERROR, PREDICTED, map_rows, tensor_options, tensor_values
from explorer.store import Store

DATA = Path(__file__).resolve().parents[2] / "tests" / "data"
SHOWCASE = DATA / "showcase.xyz"
ALPHA_MU = DATA / "alpha-mu.xyz"
HYPERS = {"cutoff": 3.5, "n_max": 3, "l_max": 2, "density_width": 0.4}
MB = 1024 * 1024


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "store")


def _upload(store, path):
    url = "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()
    dataset_state, _ = dataset_panel.accept_upload(store, url, path.name, 10 * MB)
    return dataset_state


@pytest.fixture
def showcase(store):
    dataset_state = _upload(store, SHOWCASE)
    return dataset_state, descriptors.compute_features(store, dataset_state["id"], HYPERS, "structure", backend="numba")


def test_vectors_and_tensors_are_offered_whole():
    dataset = read_dataset(SHOWCASE)
    options = {o["value"]: o["label"] for o in tensor_options(dataset, "structure")}
    assert "structure:dipole_ccsd[*]" in options and "vector" in options["structure:dipole_ccsd[*]"]
    assert "structure:ccsd_pol[*]" in options and "tensor" in options["structure:ccsd_pol[*]"]
    rows = map_rows(dataset, "structure")
    values = tensor_values(dataset, rows, "structure:ccsd_pol[*]")
    assert values.shape == (29, 6)
    np.testing.assert_array_equal(values[:, 3], dataset.structure_properties["ccsd_pol[4]"].to_numpy())
    # per atom, alpha-mu's axx ayy azz axy axz ayz are one tensor
    atoms = read_dataset(ALPHA_MU)
    assert "atom:a[*]" in {o["value"] for o in tensor_options(atoms, "atom")}
    assert "atom:a[*]" not in {o["value"] for o in tensor_options(atoms, "structure")}


def test_the_target_list_offers_them_and_the_axes_do_not(store, showcase):
    dataset_state, features_state = showcase
    color, size, targets, *_ = map_panel.map_options(store, dataset_state, "structure")
    assert "structure:dipole_b3lyp[*]" in {o["value"] for o in targets}
    axes = map_panel.axis_options(size)
    assert not any(str(o["value"]).endswith("[*]") for o in axes)


def test_dipole_predictions_are_the_tensor_models_out_of_fold(store, showcase):
    dataset_state, features_state = showcase
    target = "structure:dipole_ccsd[*]"
    prediction_state = map_panel.compute_predictions(store, features_state, target)
    arrays = store.load_arrays(prediction_state["key"])
    dataset = read_dataset(SHOWCASE)
    reference = dataset.structure_properties[[f"dipole_ccsd[{k}]" for k in (1, 2, 3)]].to_numpy()
    np.testing.assert_allclose(arrays["target"], reference)
    model, params = defaults.tensor_model()
    expected = tensors.tensor_out_of_fold(dataset.structures, reference, 1, model=model, n_splits=defaults.N_SPLITS,
                                          descriptor=defaults.tensor_descriptor(features_state["hypers"]), **params)
    np.testing.assert_allclose(arrays["predicted"], expected, rtol=1e-10, atol=1e-12)
    # a real model, not a constant: better than predicting the mean dipole
    error = np.sqrt(np.mean((arrays["predicted"] - reference) ** 2))
    assert error < np.sqrt(np.mean((reference - reference.mean(0)) ** 2))

    # the map is coloured by the length of the error vector, the same for |error| and error
    dataset_obj = store.dataset(features_state["dataset"])
    rows = map_rows(dataset_obj, "structure")
    for choice in (ERROR, ABS_ERROR):
        values, title, kind = map_panel.color_values(store, dataset_obj, rows, choice, prediction_state, None)
        np.testing.assert_allclose(values, np.linalg.norm(expected - reference, axis=1))
        assert "dipole_ccsd" in title and "norm" in title and kind == "numeric"
    values, title, _ = map_panel.color_values(store, dataset_obj, rows, PREDICTED, prediction_state, None)
    np.testing.assert_allclose(values, np.linalg.norm(expected, axis=1))

    figure, style = map_panel.parity_view(store, features_state, prediction_state, ERROR)
    assert style == {"display": "block"}
    xs = np.concatenate([np.asarray(t.x, dtype=float) for t in figure.data if t.x is not None and len(t.x) == 87])
    np.testing.assert_allclose(np.sort(xs), np.sort(reference.ravel()))


def test_a_supervised_map_fits_every_component_of_a_tensor_target(store, showcase):
    _, features_state = showcase
    map_state = map_panel.compute_map(store, features_state, "pcovr", "structure:ccsd_pol[*]", 0.5, backend="numpy")
    coordinates = store.load_arrays(map_state["coords"])["coordinates"]
    assert coordinates.shape[0] == 29 and np.isfinite(coordinates).all()
    figure = map_panel.draw_map(store, map_state, color_by=None)
    assert any("|ccsd_pol|" in str(t.hovertemplate) for t in figure.data)


def test_per_atom_polarizabilities_are_predicted_per_atom(store):
    dataset_state = _upload(store, ALPHA_MU)
    features_state = descriptors.compute_features(store, dataset_state["id"], HYPERS, "atom", backend="numba")
    prediction_state = map_panel.compute_predictions(store, features_state, "atom:a[*]")
    arrays = store.load_arrays(prediction_state["key"])
    assert arrays["predicted"].shape == arrays["target"].shape == (40, 6)
    assert np.isfinite(arrays["predicted"]).all()


def test_learning_curve_of_a_dipole_beside_the_scalar_model(store, showcase):
    from explorer.panels import learning

    _, features_state = showcase
    target = "structure:dipole_b3lyp[*]"
    assert target in {o["value"] for o in learning.learning_options(store, {"id": features_state["dataset"]}, features_state)[0]}
    table = learning.run_learning_curve(store, features_state, target, "auto", "random")
    dataset = read_dataset(SHOWCASE)
    reference = dataset.structure_properties[[f"dipole_b3lyp[{k}]" for k in (1, 2, 3)]].to_numpy()
    model, params = defaults.tensor_model()
    expected = tensors.tensor_learning_curve(dataset.structures, reference, 1, learning.tensor_train_sizes(29 - 5), n_test=5,
                                             model=model, descriptor=defaults.tensor_descriptor(features_state["hypers"]), **params)
    np.testing.assert_allclose(table["rmse_test"], [row["rmse_test"] for row in expected], rtol=1e-10)
    np.testing.assert_allclose(table["rmse_scalar"], [row["rmse_scalar"] for row in expected], rtol=1e-10)
    figure = learning.curve_figure(table, target, table.attrs["model"])
    assert {"test RMSE", "scalar model per Cartesian component"} <= {t.name for t in figure.data}
    assert "dipole_b3lyp" in learning.summary_message(table, target, table.attrs["model"], 29)
    with pytest.raises(ValueError, match="random"):
        learning.run_learning_curve(store, features_state, target, "auto", "fps")


def test_the_viewer_draws_the_predicted_dipole_beside_the_reference(store, showcase):
    from explorer import viewer_component
    from explorer.panels import viewer

    dataset_state, features_state = showcase
    prediction_state = map_panel.compute_predictions(store, features_state, "structure:dipole_ccsd[*]")
    predicted = store.load_arrays(prediction_state["key"])["predicted"]
    view = viewer.structure_view(store, dataset_state["id"], "structure", 7, 3.5, prediction_state=prediction_state)
    shapes = view.payload["frames"][view.payload["frame"]]["data"]["shapes"]
    reference, model = shapes["dipole_ccsd (structure)"], shapes["dipole_ccsd predicted (structure)"]
    # one scale for both (lengths compare), the same place, another colour
    factor = viewer_component.shape_scales(store.dataset(dataset_state["id"]))["dipole_ccsd (structure)"]["factor"]
    np.testing.assert_allclose(model["parameters"]["structure"][0]["vector"], predicted[7] * factor, atol=1e-3)
    assert model["parameters"]["structure"][0]["position"] == reference["parameters"]["structure"][0]["position"]
    assert model["parameters"]["global"]["color"] != reference["parameters"]["global"]["color"]
    # after a click with nothing ticked, the pair is shown; a user's own choice is kept
    assert viewer.shown_shapes(view.payload["shapes"], []) == ["dipole_ccsd (structure)", "dipole_ccsd predicted (structure)"]
    assert viewer.shown_shapes(view.payload["shapes"], ["ccsd_pol (structure)"]) == ["ccsd_pol (structure)"]
    # a scalar model's predictions add no shape
    scalar = map_panel.compute_predictions(store, features_state, "structure:dipole_ccsd[1]")
    plain = viewer.structure_view(store, dataset_state["id"], "structure", 7, 3.5, prediction_state=scalar)
    assert not any("predicted" in s for s in plain.payload["shapes"])


def test_the_viewer_draws_predicted_polarizabilities_on_every_atom(store):
    from explorer.panels import viewer

    dataset_state = _upload(store, ALPHA_MU)
    features_state = descriptors.compute_features(store, dataset_state["id"], HYPERS, "atom", backend="numba")
    prediction_state = map_panel.compute_predictions(store, features_state, "atom:a[*]")
    view = viewer.structure_view(store, dataset_state["id"], "atom", 30, 3.5, prediction_state=prediction_state)
    frame = view.payload["frames"][view.payload["frame"]]
    ellipsoids = frame["data"]["shapes"]["a predicted (per atom)"]["parameters"]["atom"]
    assert len(ellipsoids) == 13 and all(len(e["semiaxes"]) == 3 and len(e["orientation"]) == 4 for e in ellipsoids)
    assert "a (per atom)" in frame["data"]["shapes"]


def test_a_structure_dipole_on_a_per_atom_map_is_learned_per_structure(store, showcase):
    dataset_state, structure_features = showcase
    atom_features = descriptors.compute_features(store, dataset_state["id"], HYPERS, "atom", backend="numba")
    target = "structure:dipole_ccsd[*]"
    per_structure = store.load_arrays(map_panel.compute_predictions(store, structure_features, target)["key"])["predicted"]
    per_atom = store.load_arrays(map_panel.compute_predictions(store, atom_features, target)["key"])["predicted"]
    rows = map_rows(store.dataset(dataset_state["id"]), "atom")
    # each environment shows its structure's dipole, predicted by the same per-structure model
    np.testing.assert_allclose(per_atom, per_structure[rows.structure], rtol=1e-10)
    # two structures are too few for five folds: said, not crashed
    small = _upload(store, ALPHA_MU)
    features_state = descriptors.compute_features(store, small["id"], HYPERS, "atom", backend="numba")
    with pytest.raises(ValueError, match="fewer than n_splits"):
        map_panel.compute_predictions(store, features_state, target)


def test_exports_carry_predictions_in_the_layout_of_the_property(store, showcase):
    import io
    import json

    import ase.io

    from explorer.panels import export

    dataset_state, features_state = showcase
    map_state = map_panel.compute_map(store, features_state, "pca", None, 0.5, backend="numpy")
    prediction_state = map_panel.compute_predictions(store, features_state, "structure:ccsd_pol[*]")
    arrays = store.load_arrays(prediction_state["key"])
    selection = {"rows": [2, 5, 11], "source": "lasso"}
    data, _ = export.export_selection(store, dataset_state, features_state, map_state, selection, "extxyz", ERROR,
                                      prediction_state)
    frames = ase.io.read(io.StringIO(data.decode()), ":", format="extxyz")
    for frame, row in zip(frames, selection["rows"]):
        # six components, as ccsd_pol itself is written (xx yy zz xy xz yz)
        assert frame.info["ccsd_pol"].shape == frame.info["predicted_ccsd_pol"].shape == (6,)
        np.testing.assert_allclose(frame.info["predicted_ccsd_pol"], arrays["predicted"][row], rtol=1e-12)
        np.testing.assert_allclose(frame.info["error_ccsd_pol"], arrays["predicted"][row] - arrays["target"][row], rtol=1e-9, atol=1e-9)
        assert frame.info["error_norm_ccsd_pol"] == pytest.approx(np.linalg.norm(arrays["predicted"][row] - arrays["target"][row]))
    # chemiscope: coloured by the norm of the error, as the map
    data, _ = export.export_selection(store, dataset_state, features_state, map_state, selection, "chemiscope", ERROR,
                                      prediction_state)
    document = json.loads(data)
    assert document["settings"]["map"]["color"]["property"] == "error_norm_ccsd_pol"
    # per atom: alpha-mu's axx … ayz get predicted_axx … predicted_ayz
    small = _upload(store, ALPHA_MU)
    atom_features = descriptors.compute_features(store, small["id"], HYPERS, "atom", backend="numba")
    atom_map = map_panel.compute_map(store, atom_features, "pca", None, 0.5, backend="numpy")
    atom_predictions = map_panel.compute_predictions(store, atom_features, "atom:a[*]")
    predicted = store.load_arrays(atom_predictions["key"])["predicted"]
    data, _ = export.export_selection(store, small, atom_features, atom_map, {"rows": list(range(40)), "source": "lasso"}, "extxyz",
                                      ERROR, atom_predictions)
    frames = ase.io.read(io.StringIO(data.decode()), ":", format="extxyz")
    for k, suffix in enumerate(("xx", "yy", "zz", "xy", "xz", "yz")):
        np.testing.assert_allclose(np.concatenate([f.arrays[f"predicted_a{suffix}"] for f in frames]), predicted[:, k], atol=1e-8)  # ASE writes 8 decimals


def test_a_kernel_choice_gives_the_sagpr_learning_curve(store, showcase):
    from explorer.panels import learning

    _, features_state = showcase
    assert learning.tensor_model_for("auto") == defaults.TENSOR_MODEL
    assert learning.tensor_model_for("ridge") == "linear"
    table = learning.run_learning_curve(store, features_state, "structure:dipole_ccsd[*]", "krr", "random")
    assert table.attrs["model"] == "kernel"
    assert (table["rmse_test"] < table["target_std"]).all()


def test_each_parity_point_of_a_vector_carries_its_row(store, showcase):
    _, features_state = showcase
    prediction_state = map_panel.compute_predictions(store, features_state, "structure:dipole_ccsd[*]")
    figure, _ = map_panel.parity_view(store, features_state, prediction_state, ERROR)
    rows = np.concatenate([np.asarray(t.customdata)[:, 0].astype(int) for t in figure.data if t.customdata is not None])
    np.testing.assert_array_equal(np.sort(rows), np.repeat(np.arange(29), 3))


def test_the_learning_note_names_the_tensor_model():
    from explorer.panels import learning

    note = learning.on_learning_note("auto", {"n_rows": 29}, "structure:dipole_ccsd[*]")
    assert "λ-SOAP linear ridge" in note
    assert "SA-GPR" in learning.on_learning_note("krr", {"n_rows": 29}, "structure:dipole_ccsd[*]")
    assert learning.on_learning_note("auto", {"n_rows": 29}, "structure:energy") == ""
