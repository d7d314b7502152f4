"""Kernel ridge regression (alpha by exact leave-one-out CV over one eigendecomposition) and
sparse kernel ridge regression (projected process / Nyström) on an FPS active set."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._dispatch import get_namespace, to_numpy
from ._base import (
    BaseModel,
    RegularizationPath,
    check_alpha_params,
    check_kernel,
    kernel_matrix,
    select_alpha,
    xp_float,
)
from ._ridge import ridge_solution


class _KernelModel(BaseModel):
    """What the kernel models share: validating a fit's input, and predicting as
    ``k(x) · weights + intercept_``. A class sets ``_weights`` (the name of its fitted weights)
    and provides ``_kernel_rows(X, kernel)``, the kernel between ``X`` and what the weights
    multiply."""

    _weights = ""

    def _kernel_params(self):
        return dict(gamma=self.gamma, degree=self.degree, coef0=self.coef0, zeta=self.zeta)

    def _validate_kernel_fit(self, X, y):
        """``(kernel, alpha grid, backend, X, y)`` of a fit; a precomputed kernel must be square."""
        kernel = check_kernel(self.kernel)
        grid = check_alpha_params(self.alpha, self.alphas)
        be, X, y = self._validate_fit(X, y)
        if kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(f"kernel='precomputed' needs a square training kernel, got shape {X.shape}")
        return kernel, grid, be, X, y

    def predict(self, X):
        """Predictions for ``X`` (features, or the (n_samples, n_train) kernel)."""
        check_is_fitted(self, self._weights)
        weights = getattr(self, self._weights)
        X, came_cupy = self._validate_predict(X, weights)
        K = self._kernel_rows(X, check_kernel(self.kernel))
        return self._as_input_type(K @ weights + self.intercept_, came_cupy)


class KernelRidgeModel(_KernelModel):
    """Kernel ridge regression, alpha by exact leave-one-out CV over one eigendecomposition.

    Parameters
    ----------
    kernel : {"rbf", "soap", "linear", "poly", "precomputed"}, default="rbf"
        ``"soap"`` is the normalised polynomial kernel ``(x.y / |x||y|)^zeta`` of SOAP work;
        ``"precomputed"``: ``fit`` takes the ``(n_train, n_train)`` kernel, ``predict`` the
        ``(n_samples, n_train)`` kernel.
    alpha : float or None, default=None
        Absolute regularisation (as in ``sklearn.kernel_ridge.KernelRidge``); ``None`` picks it
        from ``alphas`` by leave-one-out cross-validation.
    alphas : array-like or None, default=None
        Candidates relative to ``trace(K) / n``; ``None`` is :data:`DEFAULT_ALPHAS`.
    fit_intercept : bool, default=True
        Add an unpenalised constant (generalised-least-squares mean, see the module docstring);
        ``False`` is scikit-learn's ``KernelRidge``.
    gamma, degree, coef0 : kernel parameters of "rbf" and "poly" (``gamma=None``: the kernel
        module's default).
    zeta : int, default=2
        Exponent of the "soap" kernel.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        As in :class:`RidgeModel`.

    Attributes
    ----------
    dual_coef_ : array (n_train,) or (n_train, n_targets)
    intercept_ : float or array (n_targets,)
    alpha_, alphas_, cv_mse_ : as in :class:`RidgeModel`
    X_fit_ : the training features (or None with a precomputed kernel)
    n_train_ : number of training samples
    n_features_in_ : int
        Features (``n_train_`` with a precomputed kernel).

    Examples
    --------
    >>> import numpy as np
    >>> from compute.models import KernelRidgeModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(80, 1))
    >>> y = np.sin(2 * X[:, 0]) + 1.0
    >>> model = KernelRidgeModel(kernel="rbf", gamma=1.0).fit(X, y)
    >>> float(np.abs(model.predict(X) - y).max()) < 1e-2
    True
    """

    _weights = "dual_coef_"

    def __init__(self, kernel="rbf", *, alpha=None, alphas=None, fit_intercept=True, gamma=None, degree=2,
                 coef0=1, zeta=2, backend="auto"):
        self.kernel = kernel
        self.alpha = alpha
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.zeta = zeta
        self.backend = backend

    def fit(self, X, y):
        """Fit on ``X`` (features, or the square training kernel) and ``y``; returns self."""
        kernel, grid, be, X, y = self._validate_kernel_fit(X, y)
        xp = be.xp
        K = X if kernel == "precomputed" else kernel_matrix(X, None, kernel, self._kernel_params())
        n = K.shape[0]
        self.alphas_ = self.cv_mse_ = None
        if grid is None:
            self.alpha_ = float(self.alpha)
            b, dual = _fixed_alpha_krr(K, y, self.alpha_, self.fit_intercept)
        else:
            lam, V = xp.linalg.eigh(K)
            path = RegularizationPath(V, lam, y, self.fit_intercept)
            scale = max(xp_float(xp.trace(K)) / n, np.finfo(float).tiny)
            self.alpha_, self.alphas_, self.cv_mse_ = select_alpha(path, grid, scale)
            b, dual = path.intercept_and_dual(self.alpha_)
        self.dual_coef_ = self._targets(dual)
        self.intercept_ = b[0] if self._y_1d else b
        self.X_fit_ = None if kernel == "precomputed" else X
        self.n_train_ = n
        return self

    def _kernel_rows(self, X, kernel):
        return X if kernel == "precomputed" else kernel_matrix(X, self.X_fit_, kernel, self._kernel_params())


def _fixed_alpha_krr(K, y, alpha, fit_intercept):
    """Solve ``(K + alpha I) [c, u] = [y, 1]`` once (Cholesky on the CPU)."""
    xp = get_namespace(K)
    n = K.shape[0]
    A = K + alpha * xp.eye(n, dtype=K.dtype)
    rhs = xp.concatenate([y, xp.ones((n, 1), dtype=y.dtype)], axis=1) if fit_intercept else y
    if xp is np:
        import scipy.linalg

        try:
            sol = scipy.linalg.solve(A, rhs, assume_a="pos")
        except np.linalg.LinAlgError:
            sol = scipy.linalg.solve(A, rhs, assume_a="sym")
    else:
        sol = xp.linalg.solve(A, rhs)
    if not fit_intercept:
        return xp.zeros((y.shape[1],), dtype=y.dtype), sol
    c, u = sol[:, :-1], sol[:, -1]
    b = xp.sum(c, axis=0) / xp.sum(u)
    return b, c - u[:, None] * b[None, :]


class SparseKernelRidgeModel(_KernelModel):
    """Sparse kernel ridge regression (projected process / Nyström) on an FPS active set.

    ``M = n_active`` active samples are picked by farthest point sampling; the model is ridge
    regression (with an unpenalised intercept) on the Nyström features
    ``Phi = K_NM K_MM^{-1/2}``, i.e. ``f(x) = b + k_M(x)^T w`` with
    ``w = (K_MN K_NM + alpha K_MM)^{-1} K_MN (y - b)``. Cost ``O(N M^2)``; no ``N x N`` matrix
    is ever formed (except the one passed in with ``kernel="precomputed"``). With ``M = N`` it is
    :class:`KernelRidgeModel` (same ``alpha``, ``fit_intercept=True``).

    Parameters
    ----------
    n_active : int, default=500
        Number of active (inducing) samples; capped at the number of training samples.
    kernel, gamma, degree, coef0, zeta : as in :class:`KernelRidgeModel`. With
        ``"precomputed"``, ``fit`` takes the ``(n_train, n_train)`` kernel (its rows are the
        features FPS sees) and ``predict`` the ``(n_samples, n_train)`` kernel.
    alpha, alphas : as in :class:`KernelRidgeModel`, for ridge on the Nyström features (the
        relative grid is scaled by ``trace(K_NM K_MM^+ K_MN) / N``, ``trace(K) / N`` when M = N).
    active_indices : array-like or None, default=None
        Use these training samples as the active set instead of FPS.
    rcond : float, default=1e-10
        Eigenvalues of ``K_MM`` below ``rcond`` times the largest are dropped
        (:func:`compute.kernels.nystrom_projector`).
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        As in :class:`RidgeModel` (``"numba"`` also picks the compiled FPS).

    Attributes
    ----------
    active_indices_ : array (M,)
    coef_ : array (M,) or (M, n_targets)
        Weights of ``k_M(x)``.
    intercept_, alpha_, alphas_, cv_mse_, n_train_, n_features_in_

    Examples
    --------
    >>> import numpy as np
    >>> from compute.models import SparseKernelRidgeModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(300, 1))
    >>> y = np.sin(2 * X[:, 0])
    >>> model = SparseKernelRidgeModel(n_active=30, kernel="rbf", gamma=1.0).fit(X, y)
    >>> model.coef_.shape, float(np.abs(model.predict(X) - y).max()) < 1e-2
    ((30,), True)
    """

    _weights = "coef_"

    def __init__(self, n_active=500, *, kernel="rbf", alpha=None, alphas=None, gamma=None, degree=2, coef0=1,
                 zeta=2, active_indices=None, rcond=1e-10, backend="auto"):
        self.n_active = n_active
        self.kernel = kernel
        self.alpha = alpha
        self.alphas = alphas
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.zeta = zeta
        self.active_indices = active_indices
        self.rcond = rcond
        self.backend = backend

    def _active_set(self, X, backend):
        n = X.shape[0]
        if self.active_indices is not None:
            active = np.asarray(to_numpy(self.active_indices), dtype=np.int64).ravel()
            if active.size == 0 or active.min() < -n or active.max() >= n or np.unique(active % n).size != active.size:
                raise ValueError(f"active_indices must be distinct indices of the {n} training samples")
            return active
        if not isinstance(self.n_active, numbers.Integral) or self.n_active < 1:
            raise ValueError(f"n_active must be a positive integer, got {self.n_active!r}")
        from ..selection import fps_indices

        return fps_indices(X, min(int(self.n_active), n), initialize=0, backend=backend)

    def fit(self, X, y):
        """Fit on ``X`` (features, or the square training kernel) and ``y``; returns self."""
        from ..kernels import nystrom_projector

        kernel, grid, be, X, y = self._validate_kernel_fit(X, y)
        xp = be.xp
        n = X.shape[0]
        self.active_indices_ = self._active_set(X, be)
        idx = xp.asarray(self.active_indices_)
        if kernel == "precomputed":
            K_nm = X[:, idx]
            self.X_active_ = None
        else:
            self.X_active_ = X[idx]
            K_nm = kernel_matrix(X, self.X_active_, kernel, self._kernel_params())
        K_mm = K_nm[idx]
        K_mm = 0.5 * (K_mm + K_mm.T)
        # projection P (M x r) with P P^T = K_MM^+, so that Phi = K_NM P (the Nystrom features)
        P = nystrom_projector(K_mm, rcond=self.rcond)
        phi = K_nm @ P
        # the grid is relative to trace(K_NM K_MM^+ K_MN) / N, which is trace(K) / N when M = N
        coef, intercept, self.alpha_, self.alphas_, self.cv_mse_ = ridge_solution(
            phi, y, self.alpha, grid, fit_intercept=True, scale=xp_float(xp.sum(phi * phi)) / n)
        self.coef_ = self._targets(P @ coef)
        self.intercept_ = intercept[0] if self._y_1d else intercept
        self.n_train_ = n
        return self

    def _kernel_rows(self, X, kernel):
        if kernel == "precomputed":
            return X[:, get_namespace(X).asarray(self.active_indices_)]
        return kernel_matrix(X, self.X_active_, kernel, self._kernel_params())
