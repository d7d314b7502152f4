"""PCA and PCovR (linear principal covariates regression)."""

from __future__ import annotations

from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import _dispatch
from .._validation import backend_of, check_n_features, check_X, check_y
from . import _base as B


class _LinearPCovBase(TransformerMixin, BaseEstimator):
    """Fit/transform machinery shared by PCA and PCovR."""

    # ---------------------------------------------------------------- fit
    def _fit(self, X, y, mixing, regularization):
        """Fit at ``mixing`` (1 for PCA) with ridge ``regularization``; ``y`` None for PCA."""
        be = _dispatch.resolve(self.backend, X, y)
        X = check_X(X, backend=be)
        n, p = X.shape
        k = B.check_n_components(self.n_components, min(n, p))
        if self.space not in ("auto", "feature", "sample"):
            raise ValueError(f"space must be 'auto', 'feature' or 'sample', got {self.space!r}")
        Yc = B.centred_targets(self, y, n, be)
        check_n_features(self, X, reset=True)
        self.n_samples_in_ = n
        self.mean_ = X.mean(axis=0)
        Xc = X - self.mean_
        space = self.space if self.space != "auto" else ("feature" if n > p else "sample")
        self.space_ = space
        if space == "feature":
            self._cache = B.FeatureSpaceCache(Xc, Yc, regularization, self.tol, be.xp)
        else:
            self._cache = B.SampleSpaceCache(Xc @ Xc.T, Yc, regularization, be.xp, X=Xc)
        self._solve(mixing, k)
        return self

    def _solve(self, mixing, k):
        xp = self._cache.xp
        cache = self._cache
        if self.space_ == "feature":
            s, pxt, pty, ptx = cache.solve(mixing, k)
            if pty is not None:
                self.regression_coef_ = cache.W
        else:
            s, U, isqrt = cache.solve(mixing, k, self.tol)
            Xc = cache.X
            P = mixing * (Xc.T @ U)
            if cache.Yhat is not None and mixing < 1.0:
                P += (1.0 - mixing) * ((Xc.T @ cache.W) @ (cache.Yhat.T @ U))
            pxt = P * isqrt[None, :]
            ptx = isqrt[:, None] * (U.T @ Xc)
            pty = isqrt[:, None] * (U.T @ cache.Yc) if cache.Yc is not None else None
            if cache.Yc is not None:
                self.regression_coef_ = Xc.T @ cache.W
        self.n_components_ = k
        self.explained_variance_ = s / max(self.n_samples_in_ - 1, 1)
        self.singular_values_ = xp.sqrt(s)
        self.pxt_ = pxt
        self.ptx_ = ptx
        self.components_ = pxt.T
        if pty is not None:
            self.pty_ = pty
            self.pxy_ = pxt @ pty

    # ---------------------------------------------------------------- apply
    def _in(self, X):
        """Validated ``X`` on the device of the fitted model, and whether CuPy came in."""
        came_cupy = _dispatch.is_cupy_array(X)
        X = check_X(X, backend=backend_of(self.pxt_))
        check_n_features(self, X, reset=False)
        return X, came_cupy

    def _latent(self, T):
        """Validated latent coordinates ``T`` on the device of the fitted model."""
        came_cupy = _dispatch.is_cupy_array(T)
        T = check_X(T, name="T", backend=backend_of(self.pxt_))
        if T.shape[1] != self.n_components_:
            raise ValueError(f"T has {T.shape[1]} columns, but {type(self).__name__} has {self.n_components_} components")
        return T, came_cupy

    def transform(self, X):
        """Project ``X`` on the latent space: ``T = (X - mean_) @ pxt_``.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        T : array of shape (n_samples, n_components)
            NumPy, or CuPy when ``X`` is a CuPy array.
        """
        check_is_fitted(self, ["pxt_", "mean_"])
        X, cc = self._in(X)
        return B.as_input_type((X - self.mean_) @ self.pxt_, cc)

    def inverse_transform(self, T):
        """Map latent coordinates back to feature space: ``X ≈ T @ ptx_ + mean_``.

        Parameters
        ----------
        T : array of shape (n_samples, n_components)

        Returns
        -------
        X : array of shape (n_samples, n_features)
        """
        check_is_fitted(self, ["ptx_", "mean_"])
        T, cc = self._latent(T)
        return B.as_input_type(T @ self.ptx_ + self.mean_, cc)


class PCA(B.UnsupervisedFit, _LinearPCovBase):
    """Principal component analysis (the ``mixing=1`` limit of :class:`PCovR`).

    Centres the features with their mean, diagonalises the covariance (``n_samples >
    n_features``) or the Gram matrix (otherwise), and keeps the ``n_components`` directions of
    largest variance. Equals :class:`sklearn.decomposition.PCA` up to the sign of each component.
    Runs on CuPy arrays (or numpy arrays with ``backend="cupy"``).

    Parameters
    ----------
    n_components : int, default=2
    space : {"auto", "feature", "sample"}, default="auto"
    tol : float, default=1e-12
        Eigenvalues of the covariance below ``tol`` are treated as zero.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Where ``fit`` computes (:func:`compute._dispatch.resolve`): ``"auto"`` is the device of
        CuPy input, else the GPU when one is usable, else the CPU; ``"cupy"`` moves NumPy input
        to the GPU. ``transform`` computes where the fitted model is and returns the array type
        it is given (NumPy for NumPy, CuPy for CuPy).

    Attributes
    ----------
    mean_ : array of shape (n_features,)
    components_ : array of shape (n_components, n_features)
    explained_variance_ : array of shape (n_components,)
    pxt_, ptx_ : projectors from features to latent space and back.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(20, 5))
    >>> T = PCA(n_components=2).fit(X).transform(X)
    >>> T.shape
    (20, 2)
    """

    def __init__(self, n_components=2, space="auto", tol=1e-12, backend="auto"):
        self.n_components = n_components
        self.space = space
        self.tol = tol
        self.backend = backend


class PCovR(B.MixingFit, RegressorMixin, _LinearPCovBase):
    r"""Principal covariates regression (de Jong & Kiers 1992), as in scikit-matter.

    Finds the latent projection ``T = X P_XT`` that minimises the mixed loss
    ``mixing * ||X - T P_TX||² + (1 - mixing) * ||Ŷ - T P_TY||²``, where ``Ŷ`` is a ridge
    regression of ``y`` on ``X``. ``mixing=1`` is PCA, ``mixing=0`` pure regression.
    Solved in feature space (eigenproblem of ``n_features`` x ``n_features``) or in sample space
    (``n_samples`` x ``n_samples``).

    Differences from :class:`skmatter.decomposition.PCovR`: ``X`` and ``y`` are centred with
    their training means in ``fit`` *and* in ``transform``/``predict`` (scikit-matter's ``fit``
    does not centre while its ``transform`` does), and ``predict`` adds the target mean back.
    On data that are centred beforehand the two agree. Scaling is left to the caller: as for
    scikit-matter, scale ``X`` and ``y`` to comparable variance, or the mixing loses meaning.

    A re-fit at a new mixing reuses everything that does not depend on it
    (:meth:`refit`): in feature space it costs one eigenproblem of a diagonal plus low-rank
    matrix of size ``n_features`` and no pass over the samples. The mixing in use is
    ``mixing_``; the ``mixing`` parameter stays what was asked for (``fit`` starts from it).

    Parameters
    ----------
    mixing : float in [0, 1], default=0.5
    n_components : int, default=2
    regularization : float, default=1e-6
        Ridge parameter of the regression ``Ŷ = X W`` (scikit-learn's ``Ridge(alpha)``, no
        intercept, on centred data).
    space : {"auto", "feature", "sample"}, default="auto"
        ``"auto"``: feature space when ``n_samples > n_features``, else sample space.
    tol : float, default=1e-12
        Eigenvalues below ``tol`` are treated as zero.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        As in :class:`PCA`.

    Attributes
    ----------
    mixing_ : the mixing of the fitted projection (``mixing``, or the last :meth:`refit`).
    mean_, y_mean_ : training means of X and y.
    pxt_ : (n_features, n_components) projector X -> T.
    ptx_ : (n_components, n_features) projector T -> X.
    pty_ : (n_components, n_targets) projector T -> y.
    pxy_ : (n_features, n_targets) projector X -> y (``pxt_ @ pty_``).
    regression_coef_ : (n_features, n_targets) ridge weights ``W``.
    components_ : ``pxt_.T``.
    explained_variance_ : eigenvalues of the PCovR matrix divided by ``n_samples - 1``.
    space_ : the space that was used.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 4))
    >>> y = X @ np.array([1.0, 0.5, 0.0, -1.0])
    >>> model = PCovR(mixing=0.5, n_components=2).fit(X, y)
    >>> model.transform(X).shape, model.predict(X).shape
    ((50, 2), (50,))
    >>> model.refit(mixing=0.1).transform(X).shape
    (50, 2)
    """

    _unsupervised = "PCA"  # suggested when y is missing
    _refit_needs = "pxt_"

    def __init__(self, mixing=0.5, n_components=2, regularization=1e-6, space="auto", tol=1e-12,
                 backend="auto"):
        self.mixing = mixing
        self.n_components = n_components
        self.regularization = regularization
        self.space = space
        self.tol = tol
        self.backend = backend

    def predict(self, X=None, T=None):
        """Predict targets from ``X`` (``(X - mean_) @ pxy_ + y_mean_``) or from latent ``T``."""
        check_is_fitted(self, ["pxy_", "pty_"])
        if X is None and T is None:
            raise ValueError("either X or T must be given")
        if X is not None:
            X, cc = self._in(X)
            Yp = (X - self.mean_) @ self.pxy_ + self.y_mean_
        else:
            T, cc = self._latent(T)
            Yp = T @ self.pty_ + self.y_mean_
        Yp = B.as_input_type(Yp, cc)
        return Yp.ravel() if self._y_1d else Yp

    def score(self, X, y):
        r"""Negative total loss ``-(ℓ_X + ℓ_Y)`` (higher is better), on centred data.

        ``ℓ_X = ||Xc - T P_TX||² / ||Xc||²`` and ``ℓ_Y = ||Yc - T P_TY||² / ||Yc||²`` with
        ``Xc``, ``Yc`` centred by the training means, as scikit-matter's definition.
        """
        check_is_fitted(self, ["pxt_", "pty_"])
        X, _ = self._in(X)
        xp = self._cache.xp
        Y = check_y(y, X.shape[0], estimator=self, backend=backend_of(X)).reshape(X.shape[0], -1)
        Xc = X - self.mean_
        Yc = Y - self.y_mean_
        T = Xc @ self.pxt_
        lx = float(xp.sum((Xc - T @ self.ptx_) ** 2) / xp.sum(Xc ** 2))
        ly = float(xp.sum((Yc - T @ self.pty_) ** 2) / xp.sum(Yc ** 2))
        return -(lx + ly)
