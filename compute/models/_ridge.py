"""Linear ridge regression with an unpenalised intercept, alpha by exact leave-one-out CV."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._dispatch import get_namespace
from ._base import BaseModel, RegularizationPath, check_alpha_params, select_alpha, xp_float


def ridge_solution(X, y, alpha, grid, fit_intercept, scale=None, stacklevel=4):
    """Ridge on ``X`` (n, p) and ``y`` (n, t) from one thin SVD of the centred features.

    ``grid`` is None for the fixed ``alpha``, else the relative grid searched by leave-one-out
    (scaled by ``scale``, default ``trace(Xc^T Xc) / n``). Returns ``coef`` (p, t),
    ``intercept`` (t,), ``alpha_``, ``alphas_`` and ``cv_mse_`` (the last two None for a fixed
    alpha). Shared by :class:`RidgeModel` and the sparse kernel ridge (ridge on Nyström features).
    """
    xp = get_namespace(X)
    if fit_intercept:
        x_mean, y_mean = xp.mean(X, axis=0), xp.mean(y, axis=0)
    else:
        x_mean = xp.zeros((X.shape[1],), dtype=X.dtype)
        y_mean = xp.zeros((y.shape[1],), dtype=y.dtype)
    Xc, yc = X - x_mean, y - y_mean
    U, s, Vt = xp.linalg.svd(Xc, full_matrices=False)
    alphas_ = cv_mse_ = None
    if grid is None:
        alpha_ = float(alpha)
    else:
        # centred features are orthogonal to the constant, so the path's intercept is the mean of
        # y; keeping it in the path adds its 1/n to the leave-one-out leverage, as it must
        path = RegularizationPath(U, s * s, yc, fit_intercept=fit_intercept)
        if scale is None:
            scale = xp_float(xp.sum(s * s)) / X.shape[0]
        alpha_, alphas_, cv_mse_ = select_alpha(path, grid, max(scale, np.finfo(float).tiny), stacklevel)
    coef = Vt.T @ ((s / (s * s + alpha_))[:, None] * (U.T @ yc))  # (p, t)
    return coef, y_mean - x_mean @ coef, alpha_, alphas_, cv_mse_


class RidgeModel(BaseModel):
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
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Where ``fit`` computes (:func:`compute._dispatch.resolve`: ``"auto"`` is the device of
        CuPy input, else the GPU when one is usable, else the CPU). ``predict`` computes where
        the fitted model is and returns the array type it is given.

    Attributes
    ----------
    coef_ : array (n_features,) or (n_targets, n_features)
    intercept_ : float or array (n_targets,)
    alpha_ : float
        The regularisation used.
    alphas_, cv_mse_ : arrays or None
        The absolute grid and its leave-one-out mean squared errors (``alpha=None`` only).
    n_features_in_ : int

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

    def __init__(self, alpha=None, *, alphas=None, fit_intercept=True, backend="auto"):
        self.alpha = alpha
        self.alphas = alphas
        self.fit_intercept = fit_intercept
        self.backend = backend

    def fit(self, X, y):
        """Fit on ``X`` (n_samples, n_features) and ``y`` (n_samples[, n_targets]); returns self."""
        grid = check_alpha_params(self.alpha, self.alphas)
        _, X, y = self._validate_fit(X, y)
        coef, intercept, self.alpha_, self.alphas_, self.cv_mse_ = ridge_solution(
            X, y, self.alpha, grid, self.fit_intercept)
        self.coef_ = coef[:, 0] if self._y_1d else coef.T
        self.intercept_ = intercept[0] if self._y_1d else intercept
        return self

    def predict(self, X):
        """``X @ coef_ + intercept_`` for ``X`` (n_samples, n_features)."""
        check_is_fitted(self, "coef_")
        X, came_cupy = self._validate_predict(X, self.coef_)
        coef = self.coef_ if self._y_1d else self.coef_.T
        return self._as_input_type(X @ coef + self.intercept_, came_cupy)
