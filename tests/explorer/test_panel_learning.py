"""The learning-curves panel's logic on a real store: 120 sample molecules and their SOAP features."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from explorer.panels import learning
from explorer.panels.map import target_values

TARGET = "structure:dft_formation_energy_per_atom_in_eV"
N = 120


@pytest.fixture(scope="module")
def featurized(featurized_molecules):
    return featurized_molecules


def test_property_options_are_numeric(featurized):
    store, dataset_state, features_state = featurized
    options, default = learning.learning_options(store, dataset_state, features_state)
    values = [o["value"] for o in options]
    assert TARGET in values and default == TARGET
    assert all(v.startswith("structure:") for v in values)


@pytest.mark.parametrize("model", ["krr", "sparse_krr", "ridge"])
def test_curve_falls_for_the_formation_energy(featurized, model):
    store, _, features_state = featurized
    steps = []
    table = learning.run_learning_curve(store, features_state, TARGET, model, "random",
                                        progress=lambda done, total: steps.append((done, total)))
    assert isinstance(table, pd.DataFrame)
    assert len(table) >= 5
    assert {"train_size", "rmse_test", "rmse_test_std", "rmse_train", "mae_test"} <= set(table.columns)
    sizes = table["train_size"].to_numpy()
    assert np.all(np.diff(sizes) > 0) and sizes[-1] == N - N // 5
    rmse = table["rmse_test"].to_numpy()
    assert rmse[-1] < rmse[0], rmse
    # one step per fit: every fold at every size, ending complete
    total = 5 * len(table)
    assert [done for done, _ in steps] == list(range(1, total + 1)) and {t for _, t in steps} == {total}

    fig = learning.curve_figure(table, TARGET, model)
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    assert fig.data[0].name == "test RMSE" and fig.data[0].error_y.array is not None
    assert [t.visible for t in fig.data if t.name == "train RMSE"] == ["legendonly"]
    assert "dft_formation_energy_per_atom_in_eV" in fig.layout.yaxis.title.text

    rows = learning.curve_table(table).children[1].children
    assert len(rows) == len(table)
    assert "→" in learning.summary_message(table, TARGET, model, N)


def test_per_atom_curves_keep_each_structure_in_one_fold(featurized):
    """In per-atom mode a structure property repeats on every atom of the structure: the folds
    are grouped by structure (no atom of a test structure is trained on)."""
    from explorer.panels.descriptors import compute_features
    from explorer.panels.map import structure_groups
    from explorer.rows import map_rows

    store, dataset_state, features_state = featurized
    assert structure_groups(store, features_state) is None
    per_atom = compute_features(store, dataset_state["id"], {"cutoff": 3.0, "n_max": 3, "l_max": 2, "density_width": 0.4},
                                "atom", backend="numba")
    groups = structure_groups(store, per_atom)
    np.testing.assert_array_equal(groups, map_rows(store.dataset(dataset_state["id"]), "atom").structure)
    table = learning.run_learning_curve(store, per_atom, TARGET, "ridge", "random")
    assert len(table) >= 5 and table["rmse_test"].iloc[-1] < table["rmse_test"].iloc[0]


def test_results_are_cached(featurized, monkeypatch):
    store, _, features_state = featurized
    key = learning.curve_key(features_state, TARGET, "ridge", "fps")
    assert not store.has_arrays(key)
    first = learning.run_learning_curve(store, features_state, TARGET, "ridge", "fps")
    assert store.has_arrays(key)

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached learning curve")

    monkeypatch.setattr(learning.models, "learning_curve", fail)
    again = learning.run_learning_curve(store, features_state, TARGET, "ridge", "fps")
    pd.testing.assert_frame_equal(first, again)
    # another selection, model or property is another curve
    others = {learning.curve_key(features_state, TARGET, "ridge", "random"),
              learning.curve_key(features_state, TARGET, "krr", "fps"),
              learning.curve_key(features_state, "structure:cutoff", "ridge", "fps")}
    assert len(others) == 3 and key not in others


def test_bad_choices_raise_messages(featurized, monkeypatch):
    store, _, features_state = featurized
    with pytest.raises(ValueError, match="choose a numeric property"):
        learning.run_learning_curve(store, features_state, None, "krr", "random")
    with pytest.raises(ValueError, match="unknown model"):
        learning.run_learning_curve(store, features_state, TARGET, "gp", "random")
    with pytest.raises(ValueError, match="selection"):
        learning.run_learning_curve(store, features_state, TARGET, "krr", "cur")
    with pytest.raises(ValueError, match="no features"):
        learning.run_learning_curve(store, None, TARGET, "krr", "random")
    with pytest.raises(ValueError, match="no finite value"):
        monkeypatch.setattr(learning, "curve_key", lambda *args: "2" * 64)  # not cached
        dataset = store.dataset(features_state["dataset"])
        monkeypatch.setitem(dataset.structure_properties, "cutoff", np.nan)
        learning.run_learning_curve(store, features_state, "structure:cutoff", "krr", "random")
        learning.run_learning_curve(store, features_state, TARGET, "krr", "random")
    with pytest.raises(KeyError):
        learning.run_learning_curve(store, features_state, "structure:nothing", "krr", "random")


def test_size_warning_and_limit():
    assert learning.check_size("krr", 1_000) == ""
    assert "slow" in learning.check_size("krr", 6_000)
    assert learning.check_size("sparse_krr", 50_000) == ""
    with pytest.raises(ValueError, match="sparse KRR"):
        learning.check_size("krr", 50_000)


def test_model_params_follow_the_features():
    soap = {"hypers": {"cutoff": 4.0}}
    table = {"hypers": {}}
    assert learning.model_params("krr", soap) == {"kernel": "soap", "zeta": 2}
    assert learning.model_params("sparse_krr", soap)["n_active"] == learning.N_ACTIVE
    assert learning.model_params("krr", table) == {"kernel": "rbf"}
    assert learning.model_params("ridge", soap) == {}


def test_nan_targets_are_left_out(featurized, monkeypatch):
    store, _, features_state = featurized
    y = target_values(store, features_state["dataset"], "structure", TARGET).copy()
    y[::4] = np.nan  # a quarter of the rows without a value
    monkeypatch.setattr(learning, "target_values", lambda *args: y)
    monkeypatch.setattr(learning, "curve_key", lambda *args: "1" * 64)
    table = learning.run_learning_curve(store, features_state, TARGET, "ridge", "random")
    n_valid = int(np.isfinite(y).sum())
    assert table["train_size"].iloc[-1] == n_valid - int(np.ceil(n_valid / 5))
    assert np.isfinite(table["rmse_test"]).all()


def test_the_predicted_colour_and_the_automatic_learning_curve_use_one_model(featurized, monkeypatch):
    """The map's "predicted" colour and the learning curve of the same property (model
    "automatic", the panel's default) are fitted with the same model and parameters."""
    from compute import defaults, models
    from explorer.panels import map as map_panel

    store, _, features_state = featurized
    calls = []
    real_predict, real_curve = models.cross_val_predict, models.learning_curve

    def predict(X, y, model, **params):
        calls.append(("map", model, {k: v for k, v in params.items() if k not in ("groups",)}))
        return real_predict(X, y, model=model, **params)

    def curve(X, y, model, **params):
        calls.append(("curve", model, {k: v for k, v in params.items() if k in ("kernel", "zeta", "n_active", "n_splits")}))
        return real_curve(X, y, model=model, **params)

    monkeypatch.setattr(models, "cross_val_predict", predict)
    monkeypatch.setattr(models, "learning_curve", curve)
    monkeypatch.setattr(learning, "curve_key", lambda *args: "2" * 64)  # not the earlier tests' cached curves
    monkeypatch.setattr(map_panel, "make_key", lambda *args: "3" * 64)
    map_panel.compute_predictions(store, features_state, TARGET)
    table = learning.run_learning_curve(store, features_state, TARGET, "auto", "random")
    (_, map_model, map_params), (_, curve_model, curve_params) = calls
    assert map_model == curve_model == table.attrs["model"] == "krr"  # 120 rows: full KRR
    assert map_params == curve_params == {"kernel": "soap", "zeta": 2, "n_splits": defaults.N_SPLITS}
    # above the threshold both become sparse with the same active set size
    assert defaults.property_model(defaults.SPARSE_KRR_ABOVE + 1, True) == ("sparse_krr", {"kernel": "soap", "zeta": 2, "n_active": defaults.N_ACTIVE})
