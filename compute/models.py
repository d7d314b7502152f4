"""Ridge, kernel ridge and sparse (Nyström) kernel ridge regression, learning curves and
out-of-fold predictions.

The three estimators follow scikit-learn's conventions (``__init__`` stores parameters, ``fit``
returns ``self``, fitted attributes end in ``_``) and work on NumPy arrays, or on CuPy arrays
where the linear algebra is cheap to run there (the array code is written once with ``xp``).

Regularisation
--------------
With ``alpha=None`` (the default) the regularisation is chosen by exact leave-one-out
cross-validation over a log-spaced grid. One eigendecomposition of the training kernel (one thin
SVD of the centred features for :class:`RidgeModel` and :class:`SparseKernelRidgeModel`) serves
every candidate: the leave-one-out residual of a penalised least-squares fit is
``[A^-1 (y - b)]_i / [A^-1]_ii`` with ``A = K + alpha I`` (corrected for the intercept, see
below), so no model is refitted per alpha or per left-out sample. The grid ``alphas`` is
*relative* to the scale of the problem, the mean of the diagonal of the training Gram matrix
(``trace(K) / n``), so the same default works for kernels in [0, 1] and for raw features in any
unit; the chosen absolute value is stored in ``alpha_``. A fixed ``alpha`` is absolute and means
exactly what it means in :class:`sklearn.linear_model.Ridge` and
:class:`sklearn.kernel_ridge.KernelRidge`.

Intercept
---------
``fit_intercept=True`` (the default) adds an *unpenalised* constant ``b`` to the model:

* ridge: ``min ||y - X w - b||^2 + alpha ||w||^2`` -- scikit-learn's ``Ridge(fit_intercept=True)``
  (the features and the targets are centred on the training means);
* kernel ridge: ``min ||y - K c - b||^2 + alpha c^T K c``, whose solution is
  ``b = 1^T A^-1 y / 1^T A^-1 1`` (the generalised-least-squares mean, the limit of a Gaussian
  process with a flat prior on a constant offset) and ``c = A^-1 (y - b)``. With the linear kernel
  this is exactly ridge with an intercept; it is better than subtracting the plain mean of ``y``
  when the training set is clustered. ``fit_intercept=False`` gives scikit-learn's
  ``KernelRidge`` (no offset at all);
* sparse kernel ridge: ridge with an intercept on the Nyström features, which for ``n_active``
  equal to the number of samples is the kernel ridge above.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.model_selection import GroupKFold, KFold
from sklearn.utils.validation import check_is_fitted

from ._dispatch import get_namespace, is_cupy_array, to_numpy

__all__ = [
    "DEFAULT_ALPHAS",
    "RidgeModel",
    "KernelRidgeModel",
    "SparseKernelRidgeModel",
    "make_model",
    "learning_curve",
    "cross_val_predict",
]

#: Candidate regularisations, relative to the mean diagonal of the training Gram matrix.
DEFAULT_ALPHAS = np.logspace(-10, 1, 23)

KERNELS = ("rbf", "soap", "linear", "poly", "precomputed")
_KERNEL_ALIASES = {"polynomial": "poly", "gaussian": "rbf"}


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------


def _check_X(X, name="X"):
    xp = get_namespace(X)
    if not is_cupy_array(X):
        X = np.asarray(X)
        if X.dtype == object or not np.issubdtype(X.dtype, np.number):
            raise ValueError(f"{name} must be a numeric array, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2D array (samples x features), got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    X = X.astype(xp.float64, copy=False)
    if not bool(xp.all(xp.isfinite(X))):
        raise ValueError(f"{name} contains NaN or infinite values")
    return X


def _check_y(y, n_samples, xp):
    y = xp.asarray(y, dtype=xp.float64)
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be a 1D or 2D array, got shape {y.shape}")
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} samples but X has {n_samples}")
    if not bool(xp.all(xp.isfinite(y))):
        raise ValueError(
            "y contains NaN or infinite values: drop those samples before fitting "
            "(learning_curve and cross_val_predict do it for you)"
        )
    return y


def _check_alpha_params(alpha, alphas):
    if alpha is not None:
        if not isinstance(alpha, numbers.Real) or not alpha > 0 or not np.isfinite(alpha):
            raise ValueError(f"alpha must be a positive number or None (chosen by cross-validation), got {alpha!r}")
        return None
    grid = DEFAULT_ALPHAS if alphas is None else np.asarray(alphas, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return grid


def _check_kernel(kernel):
    kernel = _KERNEL_ALIASES.get(kernel, kernel)
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}: expected one of " + ", ".join(map(repr, KERNELS)))
    return kernel


def _kernel(X, Y, kernel, gamma, degree, coef0, zeta):
    from . import kernels

    if kernel == "rbf":
        return kernels.rbf_kernel(X, Y, gamma=gamma)
    if kernel == "soap":
        return kernels.soap_kernel(X, Y, zeta=zeta)
    if kernel == "linear":
        return kernels.linear_kernel(X, Y)
    if kernel == "poly":
        return kernels.polynomial_kernel(X, Y, degree=degree, gamma=gamma, coef0=coef0)
    raise AssertionError(kernel)


def _xp_float(xp, value):
    return float(to_numpy(value)) if is_cupy_array(value) else float(value)


# --------------------------------------------------------------------------------------------
# the regularisation path: one decomposition, every alpha
# --------------------------------------------------------------------------------------------


class _Path:
    """Gram matrix ``G = U diag(lam) U^T`` (``U``: n x r orthonormal, zero on the complement).

    Everything that depends on alpha is computed from ``U``, ``lam`` and projections of ``y`` and
    of the constant vector, so a whole grid of alphas costs about as much as a single fit.
    """

    def __init__(self, U, lam, y, fit_intercept):
        xp = get_namespace(U)
        self.xp = xp
        self.U = U
        self.lam = xp.maximum(lam, 0.0)
        self.full = U.shape[1] == U.shape[0]
        self.y = y  # (n, t)
        self.Uy = U.T @ y  # (r, t)
        self.y_perp = None if self.full else y - U @ self.Uy
        self.fit_intercept = fit_intercept
        if fit_intercept:
            one = xp.ones((U.shape[0],), dtype=U.dtype)
            self.U1 = U.T @ one  # (r,)
            self.one_perp = None if self.full else one - U @ self.U1

    def _solve(self, d, alpha, Uv, v_perp):
        """``A^-1 v`` for one alpha, from ``U^T v`` and the part of ``v`` outside ``U``."""
        out = self.U @ (d[:, None] * Uv if Uv.ndim == 2 else d * Uv)
        if v_perp is not None:
            out = out + v_perp / alpha
        return out

    def intercept_and_dual(self, alpha):
        """Offset ``b`` (t,) and ``A^-1 (y - b)`` (n, t) at one alpha."""
        xp = self.xp
        d = 1.0 / (self.lam + alpha)
        if self.fit_intercept:
            A1 = self._solve(d, alpha, self.U1, self.one_perp)
            Ay = self._solve(d, alpha, self.Uy, self.y_perp)
            c = xp.sum(A1)
            b = (A1 @ self.y) / c
            return b, Ay - A1[:, None] * b[None, :]
        b = xp.zeros((self.y.shape[1],), dtype=self.y.dtype)
        return b, self._solve(d, alpha, self.Uy, self.y_perp)

    def loo_mse(self, alphas):
        """Exact leave-one-out mean squared error for every alpha (a numpy array)."""
        xp = self.xp
        U2 = self.U * self.U
        rest = None if self.full else 1.0 - xp.sum(U2, axis=1)
        out = np.empty(len(alphas))
        for k, alpha in enumerate(alphas):
            d = 1.0 / (self.lam + alpha)
            diag = U2 @ d  # diag(A^-1)
            if rest is not None:
                diag = diag + rest / alpha
            b, num = self.intercept_and_dual(alpha)
            if self.fit_intercept:
                A1 = self._solve(d, alpha, self.U1, self.one_perp)
                diag = diag - A1 * A1 / xp.sum(A1)
            diag = xp.maximum(diag, xp.finfo(diag.dtype).tiny)
            err = num / diag[:, None]
            out[k] = _xp_float(xp, xp.mean(err * err))
        return out


def _select_alpha(path, grid, scale):
    alphas = grid * scale
    mse = path.loo_mse(alphas)
    best = int(np.nanargmin(mse)) if np.any(np.isfinite(mse)) else len(alphas) // 2
    # the lower end of the grid is a numerical floor (noise-free targets such as DFT energies
    # often want interpolation); the upper end means the features barely predict y
    if len(alphas) > 1 and best == len(alphas) - 1:
        warnings.warn(
            f"the regularisation chosen by cross-validation, alpha={alphas[best]:.3g}, is the largest "
            "of the grid: the features hardly predict y (or widen `alphas`)",
            stacklevel=3,
        )
    return float(alphas[best]), alphas, mse


# --------------------------------------------------------------------------------------------
# estimators
# --------------------------------------------------------------------------------------------


class _BaseModel(RegressorMixin, BaseEstimator):
    def _set_y_shape(self, y):
        self._y_1d = y.ndim == 1
        return y[:, None] if y.ndim == 1 else y

    def _out(self, pred):
        return pred[:, 0] if self._y_1d else pred


class RidgeModel(_BaseModel):
    """Linear ridge regression with an unpenalised intercept, alpha by leave-one-out CV.

    Parameters
    ----------
    alpha : float or None, default=None
        Absolute regularisation; ``None`` picks it from ``alphas`` by exact leave-one-out
        cross-validation (one thin SVD for the whole grid).
    alphas : array-like or None, default=None
        Candidate regularisations *relative* to ``trace(Xc^T Xc) / n`` (``Xc``: centred training
        features); ``None`` is :data:`DEFAULT_ALPHAS` (1e-10 ... 10).
    fit_intercept : bool, default=True
        Fit an unpenalised constant (centre features and targets on the training means).

    Attributes
    ----------
    coef_ : array (n_features,) or (n_targets, n_features)
    intercept_ : float or array (n_targets,)
    alpha_ : float
        The regularisation used.
    alphas_, cv_mse_ : arrays or None
        The absolute grid and its leave-one-out mean squared errors (``alpha=None`` only).

    Examples
    --------
    >>> import numpy as np
    >>> from compute.models import RidgeModel
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5]) + 3.0
    >>> model = RidgeModel(alpha=1e-8).fit(X, y)
    >>> np.round(model.coef_, 3), round(float(model.intercept_), 3)
    (array([ 1. , -2. ,  0.5]), 3.0)
    """

    def __init__(self, alpha=None, *, alphas=None, fit_intercept=True):
        self.alpha = alpha
        self.alphas = alphas
        self.fit_intercept = fit_intercept

    def fit(self, X, y):
        X = _check_X(X)
        y = self._set_y_shape(_check_y(y, X.shape[0], get_namespace(X)))
        grid = _check_alpha_params(self.alpha, self.alphas)
        coef, intercept = self._fit(X, y, grid)
        self.coef_ = coef[:, 0] if self._y_1d else coef.T
        self.intercept_ = intercept[0] if self._y_1d else intercept
        self.n_features_in_ = X.shape[1]
        return self

    def _fit(self, X, y, grid, scale=None):
        """Coefficients (p, t) and intercept (t,); ``scale`` overrides the grid's reference."""
        xp = get_namespace(X)
        if self.fit_intercept:
            x_mean, y_mean = xp.mean(X, axis=0), xp.mean(y, axis=0)
        else:
            x_mean = xp.zeros((X.shape[1],), dtype=X.dtype)
            y_mean = xp.zeros((y.shape[1],), dtype=y.dtype)
        Xc, yc = X - x_mean, y - y_mean
        U, s, Vt = xp.linalg.svd(Xc, full_matrices=False)
        self.alphas_ = self.cv_mse_ = None
        if grid is None:
            self.alpha_ = float(self.alpha)
        else:
            # centred features are orthogonal to the constant, so the path's intercept is the mean of
            # y; keeping it in the path adds its 1/n to the leave-one-out leverage, as it must
            path = _Path(U, s * s, yc, fit_intercept=self.fit_intercept)
            if scale is None:
                scale = _xp_float(xp, xp.sum(s * s)) / X.shape[0]
            self.alpha_, self.alphas_, self.cv_mse_ = _select_alpha(path, grid, max(scale, np.finfo(float).tiny))
        coef = Vt.T @ ((s / (s * s + self.alpha_))[:, None] * (U.T @ yc))  # (p, t)
        return coef, y_mean - x_mean @ coef

    def predict(self, X):
        check_is_fitted(self)
        X = _check_X(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {self.n_features_in_}")
        coef = self.coef_ if self._y_1d else self.coef_.T
        return X @ coef + self.intercept_


class _KernelParams:
    def _kernel_params(self):
        return dict(gamma=self.gamma, degree=self.degree, coef0=self.coef0, zeta=self.zeta)


class KernelRidgeModel(_KernelParams, _BaseModel):
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

    Attributes
    ----------
    dual_coef_ : array (n_train,) or (n_train, n_targets)
    intercept_ : float or array (n_targets,)
    alpha_, alphas_, cv_mse_ : as in :class:`RidgeModel`
    X_fit_ : the training features (or None with a precomputed kernel)

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

    def __init__(self, kernel="rbf", *, alpha=None, alphas=None, fit_intercept=True, gamma=None, degree=2,
                 coef0=1, zeta=2):
        self.kernel = kernel
        self.alpha = alpha
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.zeta = zeta

    def _train_kernel(self, X):
        if self._kernel == "precomputed":
            if X.shape[0] != X.shape[1]:
                raise ValueError(f"kernel='precomputed' needs a square training kernel, got shape {X.shape}")
            return X
        return _kernel(X, None, self._kernel, **self._kernel_params())

    def fit(self, X, y):
        self._kernel = _check_kernel(self.kernel)
        X = _check_X(X)
        xp = get_namespace(X)
        y = self._set_y_shape(_check_y(y, X.shape[0], xp))
        grid = _check_alpha_params(self.alpha, self.alphas)
        K = xp.asarray(self._train_kernel(X), dtype=xp.float64)
        n = K.shape[0]
        self.alphas_ = self.cv_mse_ = None
        if grid is None:
            self.alpha_ = float(self.alpha)
            b, dual = _fixed_alpha_krr(K, y, self.alpha_, self.fit_intercept)
        else:
            lam, V = xp.linalg.eigh(K)
            path = _Path(V, lam, y, self.fit_intercept)
            scale = max(_xp_float(xp, xp.trace(K)) / n, np.finfo(float).tiny)
            self.alpha_, self.alphas_, self.cv_mse_ = _select_alpha(path, grid, scale)
            b, dual = path.intercept_and_dual(self.alpha_)
        self.dual_coef_ = dual[:, 0] if self._y_1d else dual
        self.intercept_ = b[0] if self._y_1d else b
        self.X_fit_ = None if self._kernel == "precomputed" else X
        self.n_train_ = n
        return self

    def predict(self, X):
        check_is_fitted(self, "dual_coef_")
        X = _check_X(X)
        if self._kernel == "precomputed":
            if X.shape[1] != self.n_train_:
                raise ValueError(
                    f"kernel='precomputed': predict needs the (n_samples, n_train={self.n_train_}) kernel, "
                    f"got shape {X.shape}"
                )
            K = X
        else:
            K = _kernel(X, self.X_fit_, self._kernel, **self._kernel_params())
        return K @ self.dual_coef_ + self.intercept_


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


class SparseKernelRidgeModel(_KernelParams, _BaseModel):
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

    Attributes
    ----------
    active_indices_ : array (M,)
    coef_ : array (M,) or (M, n_targets)
        Weights of ``k_M(x)``.
    intercept_, alpha_, alphas_, cv_mse_

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

    def __init__(self, n_active=500, *, kernel="rbf", alpha=None, alphas=None, gamma=None, degree=2, coef0=1,
                 zeta=2, active_indices=None, rcond=1e-10):
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

    def fit(self, X, y):
        from .kernels import nystrom_projector

        self._kernel = _check_kernel(self.kernel)
        X = _check_X(X)
        xp = get_namespace(X)
        n = X.shape[0]
        _check_y(y, n, xp)
        if self._kernel == "precomputed" and X.shape[0] != X.shape[1]:
            raise ValueError(f"kernel='precomputed' needs a square training kernel, got shape {X.shape}")
        if self.active_indices is not None:
            active = np.asarray(to_numpy(self.active_indices), dtype=np.int64).ravel()
            if active.size == 0 or active.min() < -n or active.max() >= n or np.unique(active).size != active.size:
                raise ValueError(f"active_indices must be distinct indices of the {n} training samples")
        else:
            if not isinstance(self.n_active, numbers.Integral) or self.n_active < 1:
                raise ValueError(f"n_active must be a positive integer, got {self.n_active!r}")
            from .selection import fps_indices

            m = min(int(self.n_active), n)
            active = np.asarray(to_numpy(fps_indices(X, m, initialize=0)), dtype=np.int64)
        self.active_indices_ = active
        idx = xp.asarray(active)
        if self._kernel == "precomputed":
            K_nm = X[:, idx]
            K_mm = K_nm[idx]
            self.X_active_ = None
        else:
            self.X_active_ = X[idx]
            K_nm = _kernel(X, self.X_active_, self._kernel, **self._kernel_params())
            K_mm = K_nm[idx]
        K_mm = 0.5 * (K_mm + K_mm.T)
        # projection P (M x r) with P P^T = K_MM^+, so that Phi = K_NM P (the Nystrom features)
        P = nystrom_projector(K_mm, rcond=self.rcond)
        phi = K_nm @ P
        y = self._set_y_shape(_check_y(y, n, xp))
        grid = _check_alpha_params(self.alpha, self.alphas)
        ridge = RidgeModel(alpha=self.alpha, fit_intercept=True)
        # the grid is relative to trace(K_NM K_MM^+ K_MN) / N, which is trace(K) / N when M = N
        coef, intercept = ridge._fit(phi, y, grid, scale=_xp_float(xp, xp.sum(phi * phi)) / n)
        self.alpha_, self.alphas_, self.cv_mse_ = ridge.alpha_, ridge.alphas_, ridge.cv_mse_
        coef = P @ coef
        self.coef_ = coef[:, 0] if self._y_1d else coef
        self.intercept_ = intercept[0] if self._y_1d else intercept
        self.n_train_ = n
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        X = _check_X(X)
        xp = get_namespace(X)
        if self._kernel == "precomputed":
            if X.shape[1] != self.n_train_:
                raise ValueError(
                    f"kernel='precomputed': predict needs the (n_samples, n_train={self.n_train_}) kernel, "
                    f"got shape {X.shape}"
                )
            K = X[:, xp.asarray(self.active_indices_)]
        else:
            K = _kernel(X, self.X_active_, self._kernel, **self._kernel_params())
        return K @ self.coef_ + self.intercept_


MODELS = {"ridge": RidgeModel, "krr": KernelRidgeModel, "sparse_krr": SparseKernelRidgeModel}


def make_model(name, **params):
    """Build an estimator by name: ``"ridge"``, ``"krr"`` or ``"sparse_krr"``.

    Examples
    --------
    >>> from compute.models import make_model
    >>> make_model("krr", kernel="soap", zeta=2)
    KernelRidgeModel(kernel='soap')
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: expected one of " + ", ".join(map(repr, MODELS)))
    cls = MODELS[name]
    valid = cls().get_params()
    bad = sorted(set(params) - set(valid))
    if bad:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, bad))} for model {name!r}: expected some of "
            + ", ".join(sorted(valid))
        )
    return cls(**params)


# --------------------------------------------------------------------------------------------
# learning curves and out-of-fold predictions
# --------------------------------------------------------------------------------------------


def _resolve_model(model, model_params):
    if isinstance(model, str):
        return make_model(model, **model_params)
    if isinstance(model, BaseEstimator):
        return clone(model).set_params(**model_params) if model_params else clone(model)
    raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))} or an estimator, got {model!r}")


class _Data:
    """Rows of X for a set of samples; a precomputed kernel is sliced on both axes.

    A kernel model on features gets its full kernel computed once, then is fitted as
    ``kernel="precomputed"`` on slices (kernels are pairwise, so nothing leaks between folds).
    """

    def __init__(self, X, estimator):
        self.estimator = estimator
        kernel = getattr(estimator, "kernel", None)
        self.precomputed = kernel == "precomputed"
        if isinstance(estimator, KernelRidgeModel) and not self.precomputed:
            kern = _check_kernel(kernel)
            X = _check_X(X)
            X = _kernel(X, None, kern, **estimator._kernel_params())
            self.estimator = clone(estimator).set_params(kernel="precomputed")
            self.precomputed = True
        elif self.precomputed:
            X = _check_X(X)
            if X.shape[0] != X.shape[1]:
                raise ValueError(f"kernel='precomputed': X must be the square kernel of all samples, got {X.shape}")
        else:
            X = _check_X(X)
        self.X = X
        self.xp = get_namespace(X)
        # rows FPS uses to pick training sets: features, or kernel rows
        self.n_samples = X.shape[0]

    def rows(self, idx, cols=None):
        xp = self.xp
        idx = xp.asarray(idx)
        if not self.precomputed:
            return self.X[idx]
        cols = idx if cols is None else xp.asarray(cols)
        return self.X[idx][:, cols]

    def fit_predict(self, train, tests):
        model = clone(self.estimator).fit(self.rows(train), self._y[self.xp.asarray(train)])
        return model, [model.predict(self.rows(t, train)) for t in tests]


def _check_target(y, n, xp):
    y = xp.asarray(y, dtype=xp.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1D array of targets, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} values but X has {n} samples")
    valid = np.flatnonzero(np.isfinite(to_numpy(y)))
    return y, valid


def _check_splits(n_splits, n_valid):
    if not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if n_splits > n_valid:
        raise ValueError(f"n_splits={n_splits} is more than the {n_valid} samples with a finite target")


def _rmse(xp, pred, ref):
    return float(np.sqrt(np.mean((to_numpy(pred) - to_numpy(ref)) ** 2)))


def default_train_sizes(n_pool, n_sizes=7):
    """Log-spaced training-set sizes from ``max(10, n_pool // 64)`` to ``n_pool``."""
    lo = min(max(10, n_pool // 64), n_pool)
    return np.unique(np.round(np.geomspace(lo, n_pool, n_sizes)).astype(int))


def _cross_validation_data(X, y, model, model_params, n_splits, purpose, groups=None):
    """Validated data for the cross-validation helpers, restricted to the rows with a finite y.

    Returns ``(data, valid, folds_of)``: ``data`` holds those rows only (so a kernel model never
    builds a kernel over rows without a target), ``valid`` their positions in the caller's X, and
    ``folds_of(random_state)`` the (train, test) splits of ``range(len(valid))``: shuffled K-fold,
    or group K-fold when ``groups`` is given (e.g. the structure of each atom, so that atoms of
    one structure never sit on both sides of a split).
    """
    estimator = _resolve_model(model, model_params)
    xp = get_namespace(X)
    n_rows = X.shape[0]
    y, valid = _check_target(y, n_rows, xp)
    if valid.size < 3:
        raise ValueError(f"y has only {valid.size} finite values: {purpose} at least 3")
    _check_splits(n_splits, valid.size)
    if valid.size < n_rows:
        rows = xp.asarray(valid)
        precomputed = getattr(estimator, "kernel", None) == "precomputed"
        X = X[rows][:, rows] if precomputed else X[rows]
        y = y[rows]
    data = _Data(X, estimator)
    data._y = y
    if groups is not None:
        groups = np.asarray(to_numpy(groups)).reshape(-1)
        if groups.shape[0] != n_rows:
            raise ValueError(f"groups has {groups.shape[0]} values but X has {n_rows} samples")
        groups = groups[valid]
        if np.unique(groups).size < n_splits:
            raise ValueError(f"groups: only {np.unique(groups).size} groups have a target, fewer than n_splits={n_splits}")

    def folds_of(random_state):
        positions = np.arange(valid.size)
        if groups is None:
            return list(KFold(n_splits, shuffle=True, random_state=random_state).split(positions))
        return list(GroupKFold(n_splits, shuffle=True, random_state=random_state).split(positions, groups=groups))

    return data, valid, folds_of


def learning_curve(X, y, model="krr", train_sizes=None, n_splits=5, selection="random", random_state=0,
                   progress=None, groups=None, **model_params):
    """Test error against training-set size, averaged over ``n_splits`` cross-validation folds.

    The samples with a finite target are split in ``n_splits`` folds (shuffled with
    ``random_state``). For each fold, the other folds are the training pool; training sets of
    each size are drawn from it (nested: every set contains the smaller ones) at random or by
    farthest point sampling (``selection="fps"``, on the features, or on the kernel rows with a
    precomputed kernel), the model is fitted (its regularisation chosen by its own internal
    cross-validation on the training set only) and scored on the held-out fold.

    Parameters
    ----------
    X : array (n_samples, n_features), or the (n_samples, n_samples) kernel when
        ``kernel="precomputed"`` is among ``model_params``.
    y : array (n_samples,)
        Targets; samples with NaN are left out.
    model : "krr", "ridge", "sparse_krr" or an estimator
    progress : callable(done, total), optional
        Called after each fit (one per fold and training size).
    groups : array (n_samples,), optional
        Samples of one group (e.g. the atoms of one structure) stay on one side of every split.
    train_sizes : array-like or None
        Integers (numbers of samples) or fractions in (0, 1] of the training pool; ``None``:
        7 log-spaced sizes from ``max(10, pool // 64)`` to the whole pool.
    n_splits : int, default=5
    selection : {"random", "fps"}
    random_state : int
    **model_params : parameters of the model (e.g. ``kernel="soap"``, ``alpha=1e-3``)

    Returns
    -------
    pandas.DataFrame
        One row per size: ``train_size``, ``rmse_train``, ``rmse_test``, ``rmse_test_std``
        (across folds), ``mae_test``, ``rmse_train_std``, ``mae_test_std``, ``alpha`` (median of
        the regularisations chosen).

    Examples
    --------
    >>> import numpy as np
    >>> from compute.models import learning_curve
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-2, 2, size=(200, 2))
    >>> y = np.sin(X[:, 0]) * np.cos(X[:, 1])
    >>> curve = learning_curve(X, y, model="krr", kernel="rbf", gamma=0.5)
    >>> list(curve.columns[:5])
    ['train_size', 'rmse_train', 'rmse_test', 'rmse_test_std', 'mae_test']
    >>> bool(curve["rmse_test"].iloc[-1] < curve["rmse_test"].iloc[0])
    True
    """
    if selection not in ("random", "fps"):
        raise ValueError(f"selection must be 'random' or 'fps', got {selection!r}")
    data, valid, folds_of = _cross_validation_data(X, y, model, model_params, n_splits, "a learning curve needs", groups)
    valid = np.arange(valid.size)  # data holds the rows with a target only
    y = data._y
    xp = data.xp
    rng = np.random.default_rng(random_state)
    folds = folds_of(random_state)
    n_pool_min = min(len(tr) for tr, _ in folds)
    sizes = _check_train_sizes(train_sizes, n_pool_min)
    if selection == "fps":
        from .selection import fps_indices

    records = {s: [] for s in sizes}
    n_fits, done = len(folds) * len(sizes), 0
    for train_pos, test_pos in folds:
        pool, test = valid[train_pos], valid[test_pos]
        pool = pool[rng.permutation(len(pool))]
        if selection == "fps":
            # a set as large as the pool is the pool: FPS only has to order the smaller sizes
            smaller = sizes[sizes < len(pool)]
            n_fps = int(smaller[-1]) if smaller.size else 1
            picked = np.asarray(to_numpy(fps_indices(data.rows(pool, pool), n_fps, initialize=0)), dtype=np.int64)
            rest = np.setdiff1d(np.arange(len(pool)), picked, assume_unique=True)
            pool = pool[np.concatenate([picked, rest])]
        y_test = y[xp.asarray(test)]
        for size in sizes:
            train = pool[:size]
            fitted, (pred_train, pred_test) = data.fit_predict(train, [train, test])
            err = to_numpy(pred_test) - to_numpy(y_test)
            records[size].append(
                (
                    _rmse(xp, pred_train, y[xp.asarray(train)]),
                    float(np.sqrt(np.mean(err**2))),
                    float(np.mean(np.abs(err))),
                    getattr(fitted, "alpha_", np.nan),
                )
            )
            done += 1
            if progress is not None:
                progress(done, n_fits)
    rows = []
    for size in sizes:
        r = np.array(records[size], dtype=float)
        rows.append(
            {
                "train_size": int(size),
                "rmse_train": r[:, 0].mean(),
                "rmse_test": r[:, 1].mean(),
                "rmse_test_std": r[:, 1].std(),
                "mae_test": r[:, 2].mean(),
                "rmse_train_std": r[:, 0].std(),
                "mae_test_std": r[:, 2].std(),
                "alpha": float(np.median(r[:, 3])),
            }
        )
    return pd.DataFrame(rows)


def _check_train_sizes(train_sizes, n_pool):
    if train_sizes is None:
        return default_train_sizes(n_pool)
    sizes = np.asarray(train_sizes).ravel()
    if sizes.size == 0:
        raise ValueError("train_sizes is empty")
    if np.issubdtype(sizes.dtype, np.floating) and np.all((sizes > 0) & (sizes <= 1)):
        sizes = np.round(sizes * n_pool)
    elif not np.all(np.equal(np.mod(sizes, 1), 0)):
        raise ValueError(f"train_sizes must be integers or fractions in (0, 1], got {train_sizes!r}")
    sizes = sizes.astype(int)
    if sizes.min() < 2 or sizes.max() > n_pool:
        raise ValueError(
            f"train_sizes must lie between 2 and the training pool of each fold ({n_pool} samples), "
            f"got {train_sizes!r}"
        )
    return np.unique(sizes)


def cross_val_predict(X, y, model="krr", n_splits=5, random_state=0, groups=None, **model_params):
    """Out-of-fold predictions for every sample, for colouring a map by prediction or error.

    Each sample is predicted by a model that never saw it: the samples with a finite target are
    split in ``n_splits`` shuffled folds, each fold is predicted by a model fitted on the others,
    and that model's regularisation is chosen by its own cross-validation on those others only
    (nested, no leakage). Samples whose target is NaN are never trained on and get NaN.

    Parameters
    ----------
    X, y, model, groups, **model_params : as in :func:`learning_curve`
    n_splits : int, default=5
    random_state : int, default=0

    Returns
    -------
    array (n_samples,)
        In the array module of ``X`` (NumPy or CuPy).

    Examples
    --------
    >>> import numpy as np
    >>> from compute.models import cross_val_predict
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = X @ np.array([1.0, 2.0, 3.0])
    >>> y[5] = np.nan
    >>> pred = cross_val_predict(X, y, model="ridge")
    >>> bool(np.isnan(pred[5])), float(np.nanmax(np.abs(pred - y))) < 1e-3
    (True, True)
    """
    data, valid, folds_of = _cross_validation_data(X, y, model, model_params, n_splits,
                                                   "cross-validated predictions need", groups)
    xp = data.xp
    pred = xp.full((X.shape[0],), xp.nan, dtype=xp.float64)
    for train, test in folds_of(random_state):
        _, (p,) = data.fit_predict(train, [test])
        pred[xp.asarray(valid[test])] = p
    return pred
