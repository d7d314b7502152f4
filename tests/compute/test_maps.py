"""compute.maps: one call from features to map coordinates, and the live-mixing reproject.

Data: scikit-matter's CSD-1000R (SOAP power spectra of molecular crystals and their chemical
shieldings), the features a user of the app maps.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA as SklearnPCA

from compute import maps

METHODS = ["pca", "kpca", "pcovr", "kpcovr"]


@pytest.fixture(scope="module")
def csd():
    from skmatter.datasets import load_csd_1000r

    data = load_csd_1000r().data
    X = np.asarray(data.X, dtype=np.float64)[:400]
    y = np.asarray(data.y, dtype=np.float64).reshape(len(data.X), -1)[:400, 0]
    return X, y


def _up_to_sign(a, b):
    """a with each column's sign flipped to match b."""
    return a * np.sign((a * b).sum(axis=0))[None, :]


@pytest.mark.parametrize("method", METHODS)
def test_project_every_method(csd, method):
    X, y = csd
    result = maps.project(X, method, y=y if method in maps.SUPERVISED else None, mixing=0.5, n_components=3)
    assert result.method == method
    assert result.coordinates.shape == (len(X), 3)
    assert np.all(np.isfinite(result.coordinates))
    prefix = {"pca": "PC", "kpca": "kPC", "pcovr": "PCov", "kpcovr": "kPCov"}[method]
    assert result.axis_titles == [f"{prefix}{k}" for k in (1, 2, 3)]
    assert np.array_equal(result.fitted_rows, np.arange(len(X)))
    assert "n_active" not in result.info  # 400 rows: the full kernel model
    # a map spreads the rows: no axis collapsed
    assert np.all(result.coordinates.std(axis=0) > 0)


def test_pca_matches_scikit_learn(csd):
    X, _ = csd
    result = maps.project(X, "pca", n_components=2)
    reference = SklearnPCA(n_components=2).fit_transform(X) / result.scale
    assert np.allclose(_up_to_sign(result.coordinates, reference), reference, atol=1e-8 * np.abs(reference).max())


@pytest.mark.parametrize("method", sorted(maps.SUPERVISED))
@pytest.mark.parametrize("start, new", [(0.5, 0.1), (0.2, 0.9)])
def test_reproject_equals_a_fresh_fit(csd, method, start, new):
    X, y = csd
    result = maps.project(X, method, y=y, mixing=start)
    before = result.coordinates.copy()
    moved = maps.reproject(result, X, new)
    fresh = maps.project(X, method, y=y, mixing=new)
    assert moved is result
    assert np.allclose(moved.coordinates, fresh.coordinates, rtol=1e-6, atol=1e-8 * np.abs(fresh.coordinates).max())
    assert not np.allclose(before, moved.coordinates), "another mixing must move the points"
    # and back again
    back = maps.reproject(result, X, start)
    assert np.allclose(back.coordinates, before, rtol=1e-6, atol=1e-8 * np.abs(before).max())


@pytest.mark.parametrize("method", ["pca", "kpca"])
def test_reproject_is_a_no_op_without_mixing(csd, method):
    X, _ = csd
    result = maps.project(X, method)
    before = result.coordinates.copy()
    assert maps.reproject(result, X, 0.1) is result
    assert np.array_equal(result.coordinates, before)


def test_mixing_one_is_pca(csd):
    """PCovR at mixing 1 spans the principal components (up to sign)."""
    X, y = csd
    pcovr = maps.project(X, "pcovr", y=y, mixing=1.0).coordinates
    pca = maps.project(X, "pca").coordinates
    assert np.allclose(_up_to_sign(pcovr, pca), pca, atol=1e-6 * np.abs(pca).max())


@pytest.mark.parametrize("method", sorted(maps.SUPERVISED))
def test_nan_targets_fitted_on_finite_rows_all_rows_placed(csd, method):
    X, y = csd
    y = y.copy()
    missing = np.arange(0, len(y), 7)
    y[missing] = np.nan
    result = maps.project(X, method, y=y, mixing=0.5)
    finite = np.setdiff1d(np.arange(len(y)), missing)
    assert np.array_equal(result.fitted_rows, finite)
    assert result.coordinates.shape == (len(X), 2)
    assert np.all(np.isfinite(result.coordinates))
    # the rows without a target are placed by the fitted model, like any new data
    Xs = (X - result.feature_mean) / result.scale
    placed = np.asarray(result.estimator.transform(Xs[missing]))
    assert np.allclose(result.coordinates[missing], placed)
    # the target is standardised on the finite rows only
    assert result.target_mean == pytest.approx(np.nanmean(y))
    assert result.target_scale == pytest.approx(np.nanstd(y))
    # reproject keeps placing them
    maps.reproject(result, X, 0.2)
    assert np.all(np.isfinite(result.coordinates)) and result.coordinates.shape == (len(X), 2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(method="tsne"), "method='tsne'"),
        (dict(method="pcovr"), "needs a target property"),
        (dict(method="kpcovr"), "needs a target property"),
        (dict(method="pca", n_components=0), "n_components=0"),
        (dict(method="pca", n_components=99), "n_components=99"),
    ],
)
def test_errors_name_the_problem(kwargs, message):
    X = np.random.default_rng(0).normal(size=(30, 5))
    with pytest.raises(ValueError, match=message):
        maps.project(X, **kwargs)


def test_errors_about_the_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5))
    with pytest.raises(ValueError, match="at least 2 rows"):
        maps.project(X[:1], "pca")
    with pytest.raises(ValueError, match="at least 2 rows"):
        maps.project(X[0], "pca")
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        maps.project(bad, "pca")
    y = np.full(30, np.nan)
    y[:2] = 1.0
    with pytest.raises(ValueError, match="only 2 finite values"):
        maps.project(X, "pcovr", y=y)
    with pytest.raises(ValueError, match="only 0 finite values"):
        maps.project(X, "kpcovr", y=np.full(30, np.nan))


def test_nystrom_chosen_above_2000_rows():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(maps.NYSTROM_ABOVE + 1, 6))
    y = X[:, 0] - X[:, 1] ** 2
    assert maps.NYSTROM_ABOVE == 2_000
    for method in ("kpca", "kpcovr"):
        result = maps.project(X, method, y=y if method == "kpcovr" else None)
        assert result.info["n_active"] == maps.N_ACTIVE == 1_000
        assert result.estimator.n_active == maps.N_ACTIVE
        assert len(np.asarray(result.estimator.active_idx_)) == maps.N_ACTIVE
        assert result.coordinates.shape == (len(X), 2) and np.all(np.isfinite(result.coordinates))
    # Nystrom still refits exactly at a new mixing
    moved = maps.reproject(result, X, 0.9).coordinates.copy()
    fresh = maps.project(X, "kpcovr", y=y, mixing=0.9).coordinates
    assert np.allclose(moved, fresh, rtol=1e-6, atol=1e-8 * np.abs(fresh).max())


def test_nystrom_counts_fitted_rows_and_can_be_forced():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(maps.NYSTROM_ABOVE + 50, 4))
    y = X[:, 0].copy()
    y[:100] = np.nan  # 1,950 rows with a target: at most 2,000 fitted rows, the full model
    full = maps.project(X, "kpcovr", y=y)
    assert "n_active" not in full.info and full.estimator.n_active is None
    assert len(full.fitted_rows) == maps.NYSTROM_ABOVE - 50
    small = maps.project(X[:300], "kpca", n_active=40)
    assert small.info["n_active"] == 40
    none = maps.project(X[:300], "kpca", n_active=None)
    assert "n_active" not in none.info
