import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from compute import _dispatch
from compute.decomposition import PCA, KernelPCA, KernelPCovR, PCovR
from compute.kernels import rbf_kernel

MIXINGS = [0.1, 0.5, 0.9]


def rel_up_to_sign(a, b):
    a = a * np.sign((a * b).sum(axis=0))[None, :]
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def rel(a, b):
    return np.linalg.norm(np.ravel(a) - np.ravel(b)) / np.linalg.norm(b)


@pytest.mark.parametrize("mixing", MIXINGS)
@pytest.mark.parametrize("space", ["feature", "sample"])
def test_pcovr_equals_skmatter(real, mixing, space):
    from sklearn.linear_model import Ridge
    from skmatter.decomposition import PCovR as SkPCovR

    X, y = real
    if space == "sample":  # fewer samples than features; re-centred subset
        X, y = X[:80] - X[:80].mean(0), y[:80] - y[:80].mean(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = SkPCovR(mixing=mixing, n_components=2, space=space,
                      regressor=Ridge(alpha=1e-6, fit_intercept=False)).fit(X, y)
    ours = PCovR(mixing=mixing, n_components=2, regularization=1e-6, space=space).fit(X, y)
    assert ours.space_ == space
    assert rel_up_to_sign(ours.transform(X), ref.transform(X)) < 1e-6
    assert rel(ours.predict(X), ref.predict(X)) < 1e-6
    assert ours.score(X, y) == pytest.approx(ref.score(X, y), rel=1e-6)


def test_pcovr_limits_and_api(real):
    from sklearn.decomposition import PCA as SkPCA
    from sklearn.linear_model import Ridge

    X, y = real
    t_pca = PCA(n_components=3).fit(X).transform(X)
    ref = SkPCA(n_components=3).fit(X).transform(X)
    assert rel_up_to_sign(t_pca, ref) < 1e-8
    assert rel_up_to_sign(PCovR(mixing=1.0, n_components=3).fit(X, y).transform(X), ref) < 1e-8
    # mixing = 0: the single component is the ridge prediction direction (predict refits y on it
    # by least squares, hence a tiny rescaling with respect to the ridge prediction itself)
    m0 = PCovR(mixing=0.0, n_components=1).fit(X, y)
    yr = Ridge(alpha=1e-6, fit_intercept=False).fit(X, y).predict(X)
    assert rel(m0.predict(X), yr) < 1e-2
    assert abs(np.corrcoef(m0.transform(X)[:, 0], yr.ravel())[0, 1]) > 1 - 1e-10
    # 1D targets give 1D predictions; centring in fit and transform alike
    model = PCovR(n_components=2).fit(X + 3.0, y[:, 0] + 1.0)
    assert model.predict(X).shape == (len(X),)
    centred = PCovR(n_components=2).fit(X, y[:, 0])
    np.testing.assert_allclose(model.transform(X + 3.0), centred.transform(X), atol=1e-8)
    np.testing.assert_allclose(model.predict(X + 3.0), centred.predict(X) + 1.0, atol=1e-8)
    rec = PCA(n_components=X.shape[1]).fit(X)
    np.testing.assert_allclose(rec.inverse_transform(rec.transform(X)), X, atol=1e-8)
    with pytest.raises(NotFittedError):
        PCovR().transform(X)
    with pytest.raises(ValueError, match="mixing"):
        PCovR(mixing=1.5).fit(X, y)
    assert clone(PCovR(mixing=0.3)).get_params()["mixing"] == 0.3


@pytest.mark.parametrize("space", ["feature", "sample"])
def test_pcovr_refit_equals_fit(real, space):
    X, y = real
    if space == "sample":
        X, y = X[:80], y[:80]
    model = PCovR(mixing=0.5, space=space).fit(X, y)
    for m in (0.0, 0.2, 0.9, 1.0):
        fresh = PCovR(mixing=m, space=space).fit(X, y)
        model.refit(m)
        assert rel_up_to_sign(model.transform(X), fresh.transform(X)) < 1e-9
        assert rel(model.predict(X), fresh.predict(X)) < 1e-9


@pytest.mark.parametrize("estimator", [PCovR(), KernelPCovR(), KernelPCovR(n_active=20)], ids=repr)
def test_refit_keeps_the_mixing_parameter(estimator):
    """fit and refit never change a parameter: the mixing in use is the fitted ``mixing_``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = X[:, 0] - X[:, 1]
    model = estimator.set_params(mixing=0.3).fit(X, y)
    assert model.mixing_ == 0.3
    model.refit(0.8)
    assert model.get_params()["mixing"] == 0.3 and model.mixing_ == 0.8
    np.testing.assert_allclose(model.transform(X), clone(model).set_params(mixing=0.8).fit(X, y).transform(X),
                               atol=1e-8)


def test_backend_and_validation_errors():
    X = np.random.default_rng(0).normal(size=(30, 4))
    y = X[:, 0]
    for est in (PCA(), KernelPCA(), PCovR(), KernelPCovR()):
        with pytest.raises(ValueError, match="unknown backend 'gpu'"):
            clone(est).set_params(backend="gpu").fit(X, y)
        fitted = clone(est).fit(X, y)
        with pytest.raises(ValueError, match="X has 3 features, but .* is expecting 4 features"):
            fitted.transform(X[:, :3])
    # "numpy" and "numba" are the same CPU computation
    a = KernelPCovR(n_active=10, backend="numpy").fit(X, y)
    b = KernelPCovR(n_active=10, backend="numba").fit(X, y)
    np.testing.assert_array_equal(a.active_idx_, b.active_idx_)
    np.testing.assert_allclose(a.transform(X), b.transform(X), atol=1e-10)
    with pytest.raises(ValueError, match="PCovR needs targets y: it requires y to be passed"):
        PCovR().fit(X, None)
    with pytest.raises(ValueError, match="T has 3 columns"):
        PCovR().fit(X, y).predict(T=np.zeros((2, 3)))


@pytest.mark.parametrize("mixing", MIXINGS)
def test_kpcovr_equals_skmatter(real, mixing):
    from sklearn.kernel_ridge import KernelRidge
    from skmatter.decomposition import KernelPCovR as SkKPCovR

    X, y = real
    n = len(X)
    K = rbf_kernel(X, gamma=1.0 / X.shape[1])
    H = np.eye(n) - 1.0 / n
    Kc = H @ K @ H
    ref = SkKPCovR(mixing=mixing, n_components=2, kernel="precomputed", center=False,
                   regressor=KernelRidge(alpha=1e-6, kernel="precomputed")).fit(Kc, y)
    for center in (False, True):  # centring an already centred kernel changes nothing
        ours = KernelPCovR(mixing=mixing, n_components=2, kernel="precomputed", center=center,
                           regularization=1e-6).fit(Kc, y)
        assert rel_up_to_sign(ours.transform(Kc), ref.transform(Kc)) < 1e-6
        assert rel(ours.predict(Kc), ref.predict(Kc)) < 1e-6
        assert rel_up_to_sign(ours.embedding_, ref.transform(Kc)) < 1e-6
    # on the training set both scores are the same quantity
    assert ours.score(Kc, y, kernel_diag=np.diag(Kc)) == pytest.approx(ref.score(Kc, y), rel=1e-8)
    # the rbf kernel computed (and centred) by the estimator gives the same map
    feat = KernelPCovR(mixing=mixing, gamma=1.0 / X.shape[1]).fit(X, y)
    assert rel_up_to_sign(feat.transform(X), ref.transform(Kc)) < 1e-6
    assert rel(feat.predict(X), ref.predict(Kc)) < 1e-6


def test_kpcovr_limits(real):
    from sklearn.decomposition import KernelPCA as SkKPCA
    from sklearn.kernel_ridge import KernelRidge

    X, y = real
    g = 1.0 / X.shape[1]
    ref = SkKPCA(n_components=2, kernel="rbf", gamma=g).fit(X)
    kp = KernelPCA(n_components=2, gamma=g).fit(X)
    assert rel_up_to_sign(kp.transform(X[:50]), ref.transform(X[:50])) < 1e-6
    assert rel_up_to_sign(KernelPCovR(mixing=1.0, gamma=g).fit(X, y).transform(X), ref.transform(X)) < 1e-6
    # mixing 0 predicts as kernel ridge (on the centred kernel, centred y)
    n = len(X)
    H = np.eye(n) - 1.0 / n
    Kc = H @ rbf_kernel(X, gamma=g) @ H
    krr = KernelRidge(alpha=1e-6, kernel="precomputed").fit(Kc, y)
    m0 = KernelPCovR(mixing=0.0, n_components=1, gamma=g).fit(X, y)
    # (predict refits y on that direction by least squares, so it is a rescaled KRR prediction)
    assert abs(np.corrcoef(m0.embedding_[:, 0], krr.predict(Kc).ravel())[0, 1]) > 1 - 1e-10


def test_kpcovr_score_held_out(real):
    """A held-out set of another size works, and equals the brute-force definition."""
    X, y = real
    g = 1.0 / X.shape[1]
    tr, te = slice(0, 300), slice(300, 420)
    model = KernelPCovR(mixing=0.5, gamma=g).fit(X[tr], y[tr])
    s = model.score(X[te], y[te])
    # brute force with explicit centred kernels
    n = 300
    Knn = rbf_kernel(X[tr], gamma=g)
    Kvn = rbf_kernel(X[te], X[tr], gamma=g)
    Kvv = rbf_kernel(X[te], gamma=g)
    cm = Knn.mean(0)
    Kc = Knn - cm[None] - cm[:, None] + cm.mean()
    Kvn_c = Kvn - cm[None] - Kvn.mean(1)[:, None] + cm.mean()
    Kvv_c = Kvv - Kvn.mean(1)[None] - Kvn.mean(1)[:, None] + cm.mean()
    Tn, Tv = model.embedding_, model.transform(X[te])
    w = Tn @ np.linalg.pinv(Tn.T @ Tn) @ Tv.T
    lk = np.trace(Kvv_c - 2 * Kvn_c @ w + w.T @ Kc @ w) / np.trace(Kvv_c)
    yv = y[te]
    ly = np.sum((yv - model.predict(X[te]).reshape(yv.shape)) ** 2) / np.sum((yv - model.y_mean_) ** 2)
    assert s == pytest.approx(-(lk + ly), rel=1e-8)
    assert n == Kc.shape[0]
    sp = KernelPCovR(mixing=0.5, gamma=g, n_active=100).fit(X[tr], y[tr])
    assert np.isfinite(sp.score(X[te], y[te]))


def test_nystrom_all_active_equals_full(real):
    X, y = real
    g = 1.0 / X.shape[1]
    for m in MIXINGS:
        full = KernelPCovR(mixing=m, gamma=g).fit(X[:400], y[:400])
        sparse = KernelPCovR(mixing=m, gamma=g, n_active=400).fit(X[:400], y[:400])
        assert rel_up_to_sign(sparse.transform(X), full.transform(X)) < 1e-6
        assert rel(sparse.predict(X), full.predict(X)) < 1e-6
        assert rel_up_to_sign(sparse.embedding_, full.embedding_) < 1e-6


def test_nystrom_precomputed_and_subset(real):
    X, y = real
    g = 1.0 / X.shape[1]
    K = rbf_kernel(X, gamma=g)
    a = KernelPCovR(mixing=0.5, gamma=g, n_active=60).fit(X, y)
    b = KernelPCovR(mixing=0.5, kernel="precomputed", n_active=60).fit(K, y)
    np.testing.assert_array_equal(a.active_idx_, b.active_idx_)
    assert rel_up_to_sign(b.transform(K), a.transform(X)) < 1e-8
    assert a.pkt_.shape == (60, 2)


@pytest.mark.parametrize("sparse", [False, True])
def test_kpcovr_refit_equals_fit(real, sparse):
    X, y = real
    kw = dict(gamma=1.0 / X.shape[1], n_active=80 if sparse else None)
    model = KernelPCovR(mixing=0.5, **kw).fit(X, y)
    for m in (0.0, 0.3, 0.8, 1.0):
        fresh = KernelPCovR(mixing=m, **kw).fit(X, y)
        model.refit(m)
        assert rel_up_to_sign(model.embedding_, fresh.embedding_) < 1e-8
        assert rel_up_to_sign(model.transform(X[:40]), fresh.transform(X[:40])) < 1e-8
        assert rel(model.predict(X), fresh.predict(X)) < 1e-8


@pytest.mark.slow
def test_sparse_refit_builds_no_kernel(monkeypatch):
    """A mixing re-fit reuses the Nyström features: no kernel is evaluated, no active set chosen
    (its speed is measured by ``python -m compute.bench maps``, not asserted here)."""
    from compute import kernels
    from compute.decomposition import _kernel

    rng = np.random.default_rng(0)
    X = rng.normal(size=(10_000, 50))
    y = np.sin(X[:, 0]) + 0.1 * X[:, 1]
    model = KernelPCovR(mixing=0.5, n_active=500, gamma=0.02).fit(X, y)
    before = model.transform(X[:5]).copy()
    calls = []

    def counted(function):
        def wrapper(*args, **kwargs):
            calls.append(function.__name__)
            return function(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(kernels, "pairwise_kernel", counted(kernels.pairwise_kernel))
    monkeypatch.setattr(kernels, "nystrom_projector", counted(kernels.nystrom_projector))
    monkeypatch.setattr(_kernel, "fps_indices", counted(_kernel.fps_indices))
    monkeypatch.setattr(_kernel, "kernel_fps_indices", counted(_kernel.kernel_fps_indices))
    model.refit(0.2)
    assert calls == [] and model.mixing_ == 0.2
    assert not np.allclose(model.transform(X[:5]), before)  # the re-fit changed the map
    model.refit(0.5)  # and back to the fit's mixing, through the same reuse
    np.testing.assert_allclose(model.transform(X[:5]), before, rtol=1e-8, atol=1e-10)
    assert [c for c in calls if c != "pairwise_kernel"] == []  # transform evaluates kernels to new points only


def test_kernel_variants_run():
    rng = np.random.default_rng(0)
    X = np.abs(rng.normal(size=(60, 6)))
    y = X.sum(1)
    for kern, extra in [("linear", {}), ("poly", {"degree": 3, "coef0": 1}), ("soap", {"kernel_params": {"zeta": 2}})]:
        m = KernelPCovR(kernel=kern, **extra).fit(X, y)
        assert m.transform(X).shape == (60, 2)
        assert np.isfinite(m.score(X[:17], y[:17]))


def _cupy_or_skip():
    if not _dispatch.cupy_available():
        pytest.skip("needs CuPy with a CUDA device")
    import cupy

    return cupy


@pytest.mark.gpu
def test_gpu_pcovr_and_kpcovr_match_cpu(real):
    cp = _cupy_or_skip()
    X, y = real
    g = 1.0 / X.shape[1]
    for est in (PCovR(mixing=0.5), KernelPCovR(mixing=0.5, gamma=g), KernelPCovR(mixing=0.5, gamma=g, n_active=100)):
        cpu = clone(est).fit(X, y)
        gpu = clone(est).fit(cp.asarray(X), cp.asarray(y))
        T = gpu.transform(cp.asarray(X))
        assert isinstance(T, cp.ndarray)
        assert rel_up_to_sign(T.get(), cpu.transform(X)) < 1e-6
        host = clone(est).set_params(backend="cupy").fit(X, y)
        out = host.transform(X)
        assert isinstance(out, np.ndarray)
        assert rel_up_to_sign(out, cpu.transform(X)) < 1e-6
        assert rel(host.predict(X), cpu.predict(X)) < 1e-6
