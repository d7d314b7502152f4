import warnings

import numpy as np
import pytest

from compute import selection


@pytest.mark.parametrize("axis", ["samples", "features"])
@pytest.mark.parametrize("name,kw,needs_y", [("FPS", {}, False), ("FPS", {"initialize": 7}, False), ("CUR", {}, False),
                                             ("PCovFPS", {"mixing": 0.5}, True), ("PCovCUR", {"mixing": 0.5}, True),
                                             ("PCovCUR", {"mixing": 0.1}, True)])
def test_same_indices_as_skmatter(real, axis, name, kw, needs_y):
    import skmatter.feature_selection as fs
    import skmatter.sample_selection as ss

    X, y = real
    mod = ss if axis == "samples" else fs
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = getattr(mod, name)(n_to_select=15, **kw).fit(X, y if needs_y else None).selected_idx_
    ours = getattr(selection, name)(n_to_select=15, axis=axis, **kw).fit(X, y if needs_y else None)
    np.testing.assert_array_equal(ours.selected_idx_, ref)
    out = ours.transform(X)
    expected = X[ref] if axis == "samples" else X[:, ref]
    np.testing.assert_array_equal(out, expected)


def test_fps_indices_matches_fps(real):
    X, _ = real
    ref = selection.FPS(n_to_select=150, initialize=3).fit(X).selected_idx_
    np.testing.assert_array_equal(selection.fps_indices(X, 150, initialize=3), ref)


def test_fps_distances_decrease():
    X = np.random.default_rng(1).normal(size=(300, 4))
    f = selection.FPS(n_to_select=40).fit(X)
    at = f.hausdorff_at_select_[1:]
    assert np.all(np.diff(at) <= 1e-12)
    assert len(set(f.selected_idx_.tolist())) == 40


def test_kernel_fps_equals_feature_fps(real):
    X, _ = real
    np.testing.assert_array_equal(selection.kernel_fps_indices(X @ X.T, 30), selection.fps_indices(X, 30))


def test_errors():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="n_to_select"):
        selection.FPS(n_to_select=11).fit(X)
    with pytest.raises(ValueError, match="axis"):
        selection.CUR(n_to_select=2, axis="rows").fit(X)
    with pytest.raises(ValueError, match="needs targets"):
        selection.PCovCUR(n_to_select=2).fit(X)
    with pytest.raises(ValueError, match="plain FPS"):
        selection.PCovFPS(n_to_select=2, mixing=1.0).fit(X, X[:, 0])


def test_one_fps_on_every_backend(real):
    """The compiled (numba) and array (numpy) paths of the one FPS pick the same points, with the
    same distances, from one or several initial points; kernel FPS is the same loop."""
    X, _ = real
    for init in (0, [4, 11]):
        a = selection.FPS(n_to_select=60, initialize=init, backend="numba").fit(X)
        b = selection.FPS(n_to_select=60, initialize=init, backend="numpy").fit(X)
        np.testing.assert_array_equal(a.selected_idx_, b.selected_idx_)
        np.testing.assert_allclose(a.hausdorff_at_select_, b.hausdorff_at_select_, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(a.hausdorff_, b.hausdorff_, rtol=1e-8, atol=1e-10)
    np.testing.assert_array_equal(selection.fps_indices(X, 40, backend="numpy"),
                                  selection.fps_indices(X, 40, backend="numba"))
    np.testing.assert_array_equal(selection.kernel_fps_indices(X @ X.T, 40, backend="numba"),
                                  selection.fps_indices(X, 40, backend="numpy"))


def test_backend_and_input_errors():
    X = np.random.default_rng(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="unknown backend 'sklearn'"):
        selection.fps_indices(X, 3, backend="sklearn")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        selection.FPS(n_to_select=3, backend="gpu").fit(X)
    with pytest.raises(ValueError, match="X contains NaN"):
        selection.FPS(n_to_select=3).fit(np.where(X > 1, np.nan, X))
    with pytest.raises(ValueError, match="X has 2 features, but FPS is expecting 3"):
        selection.FPS(n_to_select=2, axis="features").fit(X).transform(X[:, :2])
    with pytest.raises(ValueError, match="a sample selector's transform takes the 10 samples"):
        selection.FPS(n_to_select=2).fit(X).transform(X[:5])
    with pytest.raises(ValueError, match="initialize"):
        selection.fps_indices(X, 3, initialize=[1, 1])
    with pytest.raises(ValueError, match="square"):
        selection.kernel_fps_indices(X, 3)
    assert selection.FPS().fit(X).n_selected_ == 5  # n_to_select=None: half, as scikit-matter
