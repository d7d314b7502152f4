"""compute.models against scikit-learn, on SOAP features of the sample molecules."""

from pathlib import Path

import numpy as np
import pytest
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import Ridge, RidgeCV

from compute import models
from compute._dispatch import cupy_available
from compute.kernels import rbf_kernel, soap_kernel
from compute.models import (
    KernelRidgeModel,
    RidgeModel,
    SparseKernelRidgeModel,
    cross_val_predict,
    learning_curve,
    make_model,
)

ROOT = Path(__file__).resolve().parents[2]
MOLECULES = ROOT / "sample_datasets" / "small_molecules-1000.xyz"
PROPERTY = "dft_formation_energy_per_atom_in_eV"


@pytest.fixture(scope="session")
def molecules_soap():
    """SOAP power spectrum per structure of the 985 sample molecules, and their DFT energies."""
    import ase.io

    from compute.descriptors import SoapPowerSpectrum

    frames = ase.io.read(MOLECULES, ":")
    y = np.array([f.info[PROPERTY] for f in frames])
    X = SoapPowerSpectrum(cutoff=5.0, n_max=8, l_max=6, density_width=0.3).compute(
        frames, per="structure", backend="numba"
    )
    return X, y


@pytest.fixture(scope="session")
def small(molecules_soap):
    """150 molecules, SOAP reduced to 40 informative columns (a well-posed linear problem)."""
    X, y = molecules_soap
    X = X[:150]
    cols = np.argsort(X.var(axis=0))[::-1][:40]
    Xs = X[:, cols] / X[:, cols].std(axis=0)
    return Xs, y[:150]


# -- equal to scikit-learn at a fixed alpha ------------------------------------------------------


@pytest.mark.parametrize("alpha", [1e-4, 1e-1, 10.0])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_equals_sklearn(small, alpha, fit_intercept):
    X, y = small
    ours = RidgeModel(alpha=alpha, fit_intercept=fit_intercept).fit(X[:100], y[:100])
    ref = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(X[:100], y[:100])
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X[100:]), ref.predict(X[100:]), rtol=1e-9, atol=1e-10)


def test_ridge_multi_target_and_wide(molecules_soap):
    X, y = molecules_soap
    X, Y = X[:60], np.c_[y[:60], 2 * y[:60] + 1]  # more features than samples
    ours = RidgeModel(alpha=1e-3).fit(X, Y)
    ref = Ridge(alpha=1e-3).fit(X, Y)
    assert ours.coef_.shape == ref.coef_.shape
    np.testing.assert_allclose(ours.predict(X), ref.predict(X), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(
    "kernel, params, ref_kernel",
    [
        ("rbf", {"gamma": 0.02}, lambda A, B: rbf_kernel(A, B, gamma=0.02)),
        ("soap", {"zeta": 2}, lambda A, B: soap_kernel(A, B, zeta=2)),
        ("linear", {}, "linear"),
        ("poly", {"degree": 3, "gamma": 0.01, "coef0": 1}, "poly"),
    ],
)
@pytest.mark.parametrize("alpha", [1e-6, 1e-2])
def test_kernel_ridge_equals_sklearn(small, kernel, params, ref_kernel, alpha):
    X, y = small
    Xtr, ytr, Xte = X[:100], y[:100], X[100:]
    ours = KernelRidgeModel(kernel=kernel, alpha=alpha, fit_intercept=False, **params).fit(Xtr, ytr)
    if callable(ref_kernel):
        ref = KernelRidge(alpha=alpha, kernel="precomputed").fit(ref_kernel(Xtr, Xtr), ytr)
        expected = ref.predict(ref_kernel(Xte, Xtr))
    else:
        ref = KernelRidge(alpha=alpha, kernel=ref_kernel, **params).fit(Xtr, ytr)
        expected = ref.predict(Xte)
    np.testing.assert_allclose(ours.predict(Xte), expected, rtol=1e-7, atol=1e-9 * np.abs(expected).max())
    np.testing.assert_allclose(ours.dual_coef_, ref.dual_coef_, rtol=1e-6, atol=1e-8 * np.abs(ref.dual_coef_).max())


def test_kernel_ridge_linear_with_intercept_is_ridge(small):
    X, y = small
    for alpha in (1e-3, 1.0):
        krr = KernelRidgeModel(kernel="linear", alpha=alpha).fit(X[:100], y[:100])
        ridge = Ridge(alpha=alpha).fit(X[:100], y[:100])
        np.testing.assert_allclose(krr.predict(X[100:]), ridge.predict(X[100:]), rtol=1e-8)


def test_precomputed_equals_features(small):
    X, y = small
    feat = KernelRidgeModel(kernel="soap", alpha=1e-4).fit(X[:100], y[:100])
    pre = KernelRidgeModel(kernel="precomputed", alpha=1e-4).fit(soap_kernel(X[:100]), y[:100])
    np.testing.assert_allclose(pre.predict(soap_kernel(X[100:], X[:100])), feat.predict(X[100:]), rtol=1e-10)


# -- the regularisation path -------------------------------------------------------------------


def test_ridge_loo_equals_sklearn_ridgecv(small):
    X, y = small
    ours = RidgeModel().fit(X, y)
    ref = RidgeCV(alphas=ours.alphas_, store_cv_results=True).fit(X, y)
    np.testing.assert_allclose(ours.cv_mse_, ref.cv_results_.mean(axis=0), rtol=1e-7)
    assert ours.alpha_ == pytest.approx(ref.alpha_)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernel_ridge_loo_is_exact(small, fit_intercept):
    """The closed-form leave-one-out errors equal 60 explicit refits."""
    X, y = small
    X, y = X[:60], y[:60]
    model = KernelRidgeModel(kernel="rbf", gamma=0.02, fit_intercept=fit_intercept).fit(X, y)
    for k in (3, 10, 18):
        alpha = model.alphas_[k]
        errors = []
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            refit = KernelRidgeModel(kernel="rbf", gamma=0.02, alpha=alpha, fit_intercept=fit_intercept)
            errors.append(refit.fit(X[keep], y[keep]).predict(X[i : i + 1])[0] - y[i])
        assert model.cv_mse_[k] == pytest.approx(np.mean(np.square(errors)), rel=1e-6)
    assert model.alpha_ == model.alphas_[np.argmin(model.cv_mse_)]


def test_cv_alpha_equals_fixed_alpha_fit(small):
    X, y = small
    cv = KernelRidgeModel(kernel="soap").fit(X[:100], y[:100])
    fixed = KernelRidgeModel(kernel="soap", alpha=cv.alpha_).fit(X[:100], y[:100])
    np.testing.assert_allclose(cv.predict(X[100:]), fixed.predict(X[100:]), rtol=1e-7)


def test_alpha_grid_is_relative_to_kernel_scale(small):
    X, y = small
    a = KernelRidgeModel(kernel="linear").fit(X, y)
    b = KernelRidgeModel(kernel="linear").fit(10 * X, y)
    assert b.alpha_ == pytest.approx(100 * a.alpha_)
    np.testing.assert_allclose(a.predict(X), b.predict(10 * X), rtol=1e-6)


# -- sparse kernel ridge -----------------------------------------------------------------------


@pytest.mark.parametrize("alpha", [1e-3, None])
def test_sparse_with_all_samples_active_equals_full(small, alpha):
    X, y = small
    Xtr, ytr, Xte = X[:100], y[:100], X[100:]
    full = KernelRidgeModel(kernel="rbf", gamma=0.02, alpha=alpha).fit(Xtr, ytr)
    sparse = SparseKernelRidgeModel(n_active=100, kernel="rbf", gamma=0.02, alpha=alpha, rcond=1e-14).fit(Xtr, ytr)
    assert sorted(sparse.active_indices_) == list(range(100))
    assert sparse.alpha_ == pytest.approx(full.alpha_)
    np.testing.assert_allclose(sparse.predict(Xte), full.predict(Xte), rtol=1e-6, atol=1e-6 * np.abs(ytr).max())


def test_sparse_approximates_full_and_precomputed_matches(molecules_soap):
    X, y = molecules_soap
    Xtr, ytr, Xte, yte = X[:500], y[:500], X[500:700], y[500:700]
    full = KernelRidgeModel(kernel="soap").fit(Xtr, ytr)
    sparse = SparseKernelRidgeModel(n_active=200, kernel="soap").fit(Xtr, ytr)
    assert sparse.coef_.shape == (200,)
    rmse_full = np.sqrt(np.mean((full.predict(Xte) - yte) ** 2))
    rmse_sparse = np.sqrt(np.mean((sparse.predict(Xte) - yte) ** 2))
    assert rmse_sparse < 1.5 * rmse_full
    K = soap_kernel(Xtr)
    pre = SparseKernelRidgeModel(n_active=200, kernel="precomputed", active_indices=sparse.active_indices_).fit(K, ytr)
    np.testing.assert_allclose(pre.predict(soap_kernel(Xte, Xtr)), sparse.predict(Xte), rtol=1e-6, atol=1e-8)


# -- learning curves and out-of-fold predictions --------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("selection", ["random", "fps"])
def test_learning_curve_falls_steadily_on_sample_molecules(molecules_soap, selection):
    X, y = molecules_soap
    assert X.shape[0] == 985
    curve = learning_curve(X, y, model="krr", kernel="soap", zeta=2, selection=selection)
    print(f"\n{selection}:\n{curve.to_string()}")
    assert list(curve.columns[:5]) == ["train_size", "rmse_train", "rmse_test", "rmse_test_std", "mae_test"]
    assert len(curve) >= 5
    sizes = curve["train_size"].to_numpy()
    assert sizes[-1] == 788 and np.all(np.diff(np.log(sizes)) > 0.5)  # log-spaced
    rmse = curve["rmse_test"].to_numpy()
    assert np.all(np.diff(rmse) < 0), rmse  # falls at every step
    assert rmse[-1] < 0.35 * rmse[0]
    assert rmse[-1] < 0.15 * y.std()  # a real model: well below the spread of the property
    assert np.all(curve["mae_test"] <= curve["rmse_test"])


def test_learning_curve_sizes_nan_and_models(small):
    X, y = small
    y = y.copy()
    y[[3, 50]] = np.nan
    curve = learning_curve(X, y, model="ridge", train_sizes=[0.1, 0.5, 1.0], n_splits=4)
    assert curve["train_size"].tolist() == [11, 56, 111]  # fractions of the 111-sample pool
    assert np.all(np.isfinite(curve.to_numpy()))
    sparse = learning_curve(X, y, model="sparse_krr", n_active=20, kernel="rbf", gamma=0.02, train_sizes=[30, 60])
    assert sparse["train_size"].tolist() == [30, 60]


def test_learning_curve_precomputed_equals_features(small):
    X, y = small
    a = learning_curve(X, y, model="krr", kernel="soap", train_sizes=[20, 60], selection="fps")
    b = learning_curve(soap_kernel(X), y, model="krr", kernel="precomputed", train_sizes=[20, 60], selection="random")
    c = learning_curve(X, y, model="krr", kernel="soap", train_sizes=[20, 60], selection="random")
    np.testing.assert_allclose(b["rmse_test"], c["rmse_test"], rtol=1e-8)
    assert not np.allclose(a["rmse_test"], c["rmse_test"])


def test_cross_val_predict_is_out_of_fold(small):
    X, y = small
    y = y.copy()
    y[7] = np.nan
    pred = cross_val_predict(X, y, model="krr", kernel="soap", n_splits=5, random_state=1)
    assert pred.shape == y.shape and np.isnan(pred[7]) and np.isfinite(np.delete(pred, 7)).all()
    # the same thing by hand: each fold predicted by a model fitted (alpha included) on the others
    from sklearn.model_selection import KFold

    valid = np.flatnonzero(np.isfinite(y))
    expected = np.full(len(y), np.nan)
    for tr, te in KFold(5, shuffle=True, random_state=1).split(valid):
        m = KernelRidgeModel(kernel="soap").fit(X[valid[tr]], y[valid[tr]])
        expected[valid[te]] = m.predict(X[valid[te]])
    np.testing.assert_allclose(pred, expected, rtol=1e-8, equal_nan=True)
    # out of fold predictions are worse than in-sample ones: nothing leaked
    fitted = KernelRidgeModel(kernel="soap").fit(X[valid], y[valid]).predict(X[valid])
    assert np.sqrt(np.nanmean((pred - y) ** 2)) > 1.3 * np.sqrt(np.mean((fitted - y[valid]) ** 2))


# -- errors ------------------------------------------------------------------------------------


def test_make_model_and_errors(small):
    X, y = small
    assert isinstance(make_model("ridge"), RidgeModel)
    assert isinstance(make_model("krr", kernel="soap"), KernelRidgeModel)
    assert make_model("sparse_krr", n_active=10).n_active == 10
    with pytest.raises(ValueError, match="unknown model 'gp'"):
        make_model("gp")
    with pytest.raises(ValueError, match="'n_active'"):
        make_model("krr", n_active=3)
    with pytest.raises(ValueError, match="alpha must be a positive"):
        KernelRidgeModel(alpha=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="unknown kernel 'cosine'"):
        KernelRidgeModel(kernel="cosine").fit(X, y)
    with pytest.raises(ValueError, match="y contains NaN"):
        RidgeModel().fit(X, np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="selection must be"):
        learning_curve(X, y, selection="cur")
    with pytest.raises(ValueError, match="train_sizes"):
        learning_curve(X, y, train_sizes=[5, 1000])
    with pytest.raises(ValueError, match="n_splits"):
        cross_val_predict(X, y, n_splits=1)
    with pytest.raises(ValueError, match="finite values"):
        cross_val_predict(X, np.full(len(y), np.nan))
    with pytest.raises(ValueError, match="precomputed"):
        KernelRidgeModel(kernel="precomputed").fit(X, y)


def test_estimator_conventions():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    for name in models.MODELS:
        model = make_model(name)
        assert clone(model).get_params() == model.get_params()
        with pytest.raises(NotFittedError):
            model.predict(np.zeros((2, 3)))


def test_validation_and_backend(small):
    X, y = small
    for name in models.MODELS:
        model = make_model(name).fit(X[:60], y[:60])
        assert model.n_features_in_ == X.shape[1]
        with pytest.raises(ValueError, match=f"X has 3 features, but {type(model).__name__} is expecting 40"):
            model.predict(X[:5, :3])
        with pytest.raises(ValueError, match="unknown backend 'gpu'"):
            make_model(name, backend="gpu").fit(X, y)
        with pytest.raises(ValueError, match="requires y to be passed"):
            make_model(name).fit(X, None)
        with pytest.raises(ValueError, match="Complex data not supported"):
            make_model(name).fit(X + 1j, y)
        with pytest.raises(ValueError, match=r"0 sample\(s\)"):
            make_model(name).fit(X[:0], y[:0])
        # "numpy" and "numba" are the same CPU computation
        a = make_model(name, backend="numpy").fit(X[:60], y[:60]).predict(X[60:80])
        b = make_model(name, backend="numba").fit(X[:60], y[:60]).predict(X[60:80])
        np.testing.assert_allclose(a, b, rtol=1e-10)
    # a precomputed kernel's columns are named as such
    K = soap_kernel(X[:30])
    krr = KernelRidgeModel(kernel="precomputed", alpha=1e-3).fit(K, y[:30])
    with pytest.raises(ValueError, match="one per training sample"):
        krr.predict(K[:, :10])
    # the cross-validation helpers pass the model's backend down, resolved once
    np.testing.assert_allclose(cross_val_predict(X, y, model="ridge", backend="numpy"),
                               cross_val_predict(X, y, model="ridge"), rtol=1e-10)


# -- GPU ---------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
def test_models_on_cupy_equal_numpy(small):
    import cupy as cp

    X, y = small
    Xg, yg = cp.asarray(X), cp.asarray(y)
    for model in (
        RidgeModel(),
        KernelRidgeModel(kernel="soap"),
        KernelRidgeModel(kernel="rbf", gamma=0.02, alpha=1e-3),
        SparseKernelRidgeModel(n_active=40, kernel="rbf", gamma=0.02),
    ):
        cpu = model.fit(X[:100], y[:100]).predict(X[100:])
        gpu = model.fit(Xg[:100], yg[:100]).predict(Xg[100:])
        assert isinstance(gpu, cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(gpu), cpu, rtol=1e-6, atol=1e-8)
    pred = cross_val_predict(Xg, yg, model="krr", kernel="soap")
    np.testing.assert_allclose(cp.asnumpy(pred), cross_val_predict(X, y, model="krr", kernel="soap"), rtol=1e-6)


def test_groups_keep_each_structure_on_one_side_of_the_folds():
    """Per-atom rows of one structure share the structure's property. With plain K-fold the
    model sees a structure's other atoms while predicting one of them (leakage: a random,
    unlearnable property looks predictable); grouped by structure, it does not."""
    rng = np.random.default_rng(0)
    n_structures, atoms = 60, 5
    centres = rng.normal(size=(n_structures, 4))
    X = np.repeat(centres, atoms, axis=0) + 1e-3 * rng.normal(size=(n_structures * atoms, 4))
    y = np.repeat(rng.normal(size=n_structures), atoms)  # noise: nothing to learn across structures
    structure = np.repeat(np.arange(n_structures), atoms)
    leaky = cross_val_predict(X, y, model="krr", gamma=1.0)
    grouped = cross_val_predict(X, y, model="krr", gamma=1.0, groups=structure)
    rmse = lambda p: float(np.sqrt(np.mean((p - y) ** 2)))  # noqa: E731
    assert rmse(leaky) < 0.2 < 0.7 < rmse(grouped)
    curve = learning_curve(X, y, model="ridge", groups=structure, n_splits=3)
    assert len(curve) >= 5
    with pytest.raises(ValueError, match="groups"):
        cross_val_predict(X, y, groups=structure[:10])


def test_rows_without_a_target_never_enter_the_kernel():
    """60,000 rows of which 300 have a target: a kernel over every row would take 29 GB; the
    cross-validation helpers restrict themselves to the 300 first."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60_000, 3))
    y = np.full(60_000, np.nan)
    known = rng.choice(60_000, 300, replace=False)
    y[known] = np.sin(X[known, 0]) + X[known, 1]
    predicted = cross_val_predict(X, y, model="krr", gamma=0.5)
    assert np.isnan(predicted[np.setdiff1d(np.arange(60_000), known)]).all()
    assert np.isfinite(predicted[known]).all()
    assert float(np.sqrt(np.mean((predicted[known] - y[known]) ** 2))) < 0.5 * float(np.std(y[known]))
    assert len(learning_curve(X, y, model="krr", gamma=0.5)) >= 5
