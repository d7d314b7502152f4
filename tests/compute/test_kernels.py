import numpy as np
import pytest
from sklearn.metrics import pairwise as skp

from compute import _dispatch, kernels


@pytest.fixture(scope="module")
def data():
    from skmatter.datasets import load_csd_1000r

    X = load_csd_1000r().data.X[:120]
    return X[:80], X[80:]


@pytest.mark.parametrize("same", [True, False])
def test_against_sklearn(data, same):
    X, Y = data
    Y = None if same else Y
    g = 0.7 / X.shape[1]
    np.testing.assert_allclose(kernels.linear_kernel(X, Y), skp.linear_kernel(X, Y), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(kernels.polynomial_kernel(X, Y, degree=3, gamma=g, coef0=0.5),
                               skp.polynomial_kernel(X, Y, degree=3, gamma=g, coef0=0.5), rtol=1e-10)
    np.testing.assert_allclose(kernels.rbf_kernel(X, Y, gamma=g), skp.rbf_kernel(X, Y, gamma=g), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(kernels.rbf_kernel(X, Y), skp.rbf_kernel(X, Y), rtol=1e-10, atol=1e-14)
    Xn = X / np.linalg.norm(X, axis=1)[:, None]
    Yn = Xn if Y is None else Y / np.linalg.norm(Y, axis=1)[:, None]
    np.testing.assert_allclose(kernels.soap_kernel(X, Y, zeta=3), (Xn @ Yn.T) ** 3, rtol=1e-10, atol=1e-14)


def test_pairwise_dispatch(data):
    X, Y = data
    for name, ref in [("linear", skp.linear_kernel(X, Y)), ("poly", skp.polynomial_kernel(X, Y, degree=2, coef0=1)),
                      ("rbf", skp.rbf_kernel(X, Y, gamma=0.01))]:
        params = {"gamma": 0.01} if name == "rbf" else {}
        for backend in ("auto", "numpy", "numba"):
            np.testing.assert_allclose(kernels.pairwise_kernel(X, Y, kernel=name, backend=backend, **params), ref, rtol=1e-10)
    K = np.eye(3)
    assert kernels.pairwise_kernel(K, kernel="precomputed") is K
    with pytest.raises(ValueError, match="unknown kernel"):
        kernels.pairwise_kernel(X, kernel="cosine-ish")
    with pytest.raises(ValueError, match="takes no parameter"):
        kernels.pairwise_kernel(X, kernel="rbf", degree=3)


def test_rbf_clipped_and_diagonal():
    X = np.full((5, 3), 1e8) + np.arange(5)[:, None] * 1e-9
    K = kernels.rbf_kernel(X, gamma=1.0)
    assert np.all(K <= 1.0) and np.all(np.diag(K) == 1.0)


def test_nystrom(data):
    X, Y = data
    K = kernels.rbf_kernel(X, gamma=0.5 / X.shape[1])
    Phi = kernels.nystrom_features(K, K)
    np.testing.assert_allclose(Phi @ Phi.T, K, atol=1e-8)
    act = np.arange(0, 80, 4)
    Knm, Kmm = K[:, act], K[np.ix_(act, act)]
    Phi = kernels.nystrom_features(Knm, Kmm)
    np.testing.assert_allclose(Phi @ Phi.T, Knm @ np.linalg.pinv(Kmm) @ Knm.T, atol=1e-8)
    # a rank-deficient active set drops the null directions instead of blowing up
    Kmm2 = np.ones((4, 4))
    Phi2 = kernels.nystrom_features(np.ones((6, 4)), Kmm2)
    assert Phi2.shape == (6, 1) and np.allclose(Phi2 @ Phi2.T, np.ones((6, 6)))


@pytest.mark.gpu
@pytest.mark.skipif(not _dispatch.cupy_available(), reason="needs CuPy with a CUDA device")
def test_cupy_matches_numpy(data):
    import cupy as cp

    X, Y = data
    for name in ("linear", "poly", "soap", "rbf"):
        ref = kernels.pairwise_kernel(X, Y, kernel=name)
        out = kernels.pairwise_kernel(cp.asarray(X), cp.asarray(Y), kernel=name)
        assert isinstance(out, cp.ndarray)
        np.testing.assert_allclose(out.get(), ref, rtol=1e-9, atol=1e-12)
        host = kernels.pairwise_kernel(X, Y, kernel=name, backend="cupy")
        assert isinstance(host, np.ndarray)
        np.testing.assert_allclose(host, ref, rtol=1e-9, atol=1e-12)


def test_inputs_are_validated_with_named_arguments():
    import scipy.sparse

    X = np.random.default_rng(0).normal(size=(6, 3))
    with pytest.raises(ValueError, match="Y must be a 2D array"):
        kernels.rbf_kernel(X, X[0])
    with pytest.raises(ValueError, match="Complex data not supported: X"):
        kernels.linear_kernel(X + 1j)
    with pytest.raises(ValueError, match="Y contains NaN"):
        kernels.soap_kernel(X, np.full((2, 3), np.nan))
    with pytest.raises(TypeError, match="sparse input is not supported"):
        kernels.pairwise_kernel(scipy.sparse.csr_matrix(X), kernel="linear")
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        kernels.pairwise_kernel(X, kernel="linear", backend="gpu")
    # lists and integers are accepted as float arrays; float32 stays float32
    assert kernels.linear_kernel([[1, 2], [3, 4]]).dtype == np.float64
    assert kernels.rbf_kernel(X.astype(np.float32)).dtype == np.float32
