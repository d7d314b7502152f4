"""What the three regression models share: parameter checks, kernels, the regularisation path
(one decomposition for a whole grid of alphas) and the estimator plumbing (validation, tags,
where predictions are computed and returned)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from .. import _dispatch
from .._dispatch import get_namespace, is_cupy_array, to_numpy
from .._validation import backend_of, check_n_features, check_X, check_y

#: Candidate regularisations, relative to the mean diagonal of the training Gram matrix.
DEFAULT_ALPHAS = np.logspace(-10, 1, 23)

KERNELS = ("rbf", "soap", "linear", "poly", "precomputed")
_KERNEL_ALIASES = {"polynomial": "poly", "gaussian": "rbf"}

_Y_NAN_HINT = (": drop those samples before fitting (learning_curve and cross_val_predict do it for you)")


# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------


def check_alpha_params(alpha, alphas):
    """``None`` for a fixed ``alpha``, else the relative grid to choose it from."""
    if alpha is not None:
        if not isinstance(alpha, numbers.Real) or not alpha > 0 or not np.isfinite(alpha):
            raise ValueError(f"alpha must be a positive number or None (chosen by cross-validation), got {alpha!r}")
        return None
    grid = DEFAULT_ALPHAS if alphas is None else np.asarray(alphas, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid <= 0):
        raise ValueError(f"alphas must be a non-empty list of positive numbers, got {alphas!r}")
    return grid


def check_kernel(kernel):
    kernel = _KERNEL_ALIASES.get(kernel, kernel)
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}: expected one of " + ", ".join(map(repr, KERNELS)))
    return kernel


def kernel_matrix(X, Y, kernel, params):
    """Kernel ``kernel`` (checked, not "precomputed") between rows already on one device;
    ``params`` holds ``gamma``, ``degree``, ``coef0`` and ``zeta`` (e.g. ``get_params()``)."""
    from .. import kernels

    if kernel == "rbf":
        return kernels.rbf_kernel(X, Y, gamma=params["gamma"])
    if kernel == "soap":
        return kernels.soap_kernel(X, Y, zeta=params["zeta"])
    if kernel == "linear":
        return kernels.linear_kernel(X, Y)
    if kernel == "poly":
        return kernels.polynomial_kernel(X, Y, degree=params["degree"], gamma=params["gamma"], coef0=params["coef0"])
    raise AssertionError(kernel)


def xp_float(value):
    return float(to_numpy(value)) if is_cupy_array(value) else float(value)


# --------------------------------------------------------------------------------------------
# the regularisation path: one decomposition, every alpha
# --------------------------------------------------------------------------------------------


class RegularizationPath:
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
            out[k] = xp_float(xp.mean(err * err))
        return out


def select_alpha(path, grid, scale, stacklevel=3):
    """``(alpha_, alphas_, cv_mse_)``: the grid scaled by ``scale``, its LOO errors and the best.

    ``stacklevel`` puts the warning about the grid's edge at the caller's ``fit`` call."""
    alphas = grid * scale
    mse = path.loo_mse(alphas)
    best = int(np.nanargmin(mse)) if np.any(np.isfinite(mse)) else len(alphas) // 2
    # the lower end of the grid is a numerical floor (noise-free targets such as DFT energies
    # often want interpolation); the upper end means the features barely predict y
    if len(alphas) > 1 and best == len(alphas) - 1:
        warnings.warn(
            f"the regularisation chosen by cross-validation, alpha={alphas[best]:.3g}, is the largest "
            "of the grid: the features hardly predict y (or widen `alphas`)",
            stacklevel=stacklevel,
        )
    return float(alphas[best]), alphas, mse


# --------------------------------------------------------------------------------------------
# estimator plumbing
# --------------------------------------------------------------------------------------------

_PRECOMPUTED_COLUMNS = "with kernel='precomputed', X holds the kernel's columns, one per training sample"


class BaseModel(RegressorMixin, BaseEstimator):
    """Validation and output conventions of the three models.

    ``fit`` resolves ``backend`` once (:func:`compute._dispatch.resolve`) and leaves the fitted
    arrays on that device; ``predict`` computes there and returns the array type it is given.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.input_tags.pairwise = getattr(self, "kernel", None) == "precomputed"
        return tags

    def _validate_fit(self, X, y):
        """``(backend, X, y)`` with ``y`` as (n, n_targets); remembers whether y was 1D."""
        be = _dispatch.resolve(self.backend, X, y)
        X = check_X(X, backend=be)
        y = check_y(y, X.shape[0], estimator=self, backend=be, hint=_Y_NAN_HINT)
        check_n_features(self, X, reset=True)
        self._y_1d = y.ndim == 1
        return be, X, y[:, None] if y.ndim == 1 else y

    def _validate_predict(self, X, fitted):
        """``X`` validated on the device of the fitted array ``fitted``; whether CuPy came in."""
        came_cupy = is_cupy_array(X)
        X = check_X(X, backend=backend_of(fitted))
        precomputed = getattr(self, "kernel", None) == "precomputed"
        check_n_features(self, X, reset=False, columns=_PRECOMPUTED_COLUMNS if precomputed else None)
        return X, came_cupy

    def _targets(self, a):
        """A fitted (n|p, n_targets) array as 1D when ``y`` was 1D."""
        return a[:, 0] if self._y_1d else a

    @staticmethod
    def _as_input_type(pred, came_cupy):
        if came_cupy:
            return _dispatch.cupy_module().asarray(pred)
        return to_numpy(pred)
