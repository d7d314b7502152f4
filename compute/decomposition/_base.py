"""Shared linear algebra of PCA / PCovR / KPCA / KPCovR, written once for numpy and cupy.

The PCovR family needs the top ``k`` eigenpairs of one of two matrices:

* sample space (``n_samples`` x ``n_samples``): ``K̃ = a K + (1 - a) Ŷ Ŷᵀ``;
* feature space: ``C̃ = a C + (1 - a) C^{-1/2} Fᵀ Ŷ Ŷᵀ F C^{-1/2}`` with ``C = Fᵀ F``.

In feature space everything that does not depend on the mixing ``a`` is cached: with
``C = Q Λ Qᵀ`` the matrix is ``Q (a Λ + (1 - a) Z Zᵀ) Qᵀ`` where ``Z = Λ^{1/2} (Λ + α)⁻¹ Qᵀ Fᵀ Y``
(``α``: the ridge regularisation), so a re-fit at a new mixing is an eigenproblem of a diagonal
plus low-rank matrix: cheap, and independent of ``n_samples``.
"""

from __future__ import annotations

import numpy as np

from .._dispatch import get_namespace, to_numpy

# above this size, the top eigenpairs of an explicit matrix come from ARPACK (Lanczos) rather
# than from a dense (subset) eigendecomposition
_DENSE_MAX = 1500


def as_input_type(A, came_cupy):
    """``A`` as the array type that came in: CuPy when the caller passed CuPy, else NumPy."""
    if came_cupy:
        from .._dispatch import cupy_module

        return cupy_module().asarray(A)
    return to_numpy(A)


def check_mixing(mixing):
    if not 0.0 <= float(mixing) <= 1.0:
        raise ValueError(f"mixing must lie in [0, 1], got {mixing!r}")
    return float(mixing)


def check_n_components(k, limit):
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= limit:
        raise ValueError(f"n_components must be an integer in [1, {limit}], got {k!r}")
    return int(k)


def flip_signs(V, xp):
    """Deterministic signs: the largest-magnitude entry of each column is positive."""
    idx = xp.argmax(xp.abs(V), axis=0)
    signs = xp.sign(V[idx, xp.arange(V.shape[1])])
    signs = xp.where(signs == 0, 1.0, signs)
    return V * signs[None, :]


def top_eigh(A, k, xp, solver="auto"):
    """Top ``k`` eigenpairs (descending) of the symmetric matrix ``A``."""
    n = A.shape[0]
    if xp is not np:
        s, V = xp.linalg.eigh(A)
        s, V = s[::-1][:k], V[:, ::-1][:, :k]
    elif solver == "dense" or (solver == "auto" and (n <= _DENSE_MAX or k > n // 10)):
        from scipy.linalg import eigh

        s, V = eigh(A, subset_by_index=[n - k, n - 1], check_finite=False)
        s, V = s[::-1], V[:, ::-1]
    else:
        s, V = _arpack(A, k, n)
    return xp.maximum(s, 0.0), flip_signs(xp.ascontiguousarray(V), xp)


def _arpack(A, k, n):
    from scipy.sparse.linalg import eigsh

    v0 = np.random.default_rng(0).uniform(-1, 1, n)
    s, V = eigsh(A, k=k, which="LA", v0=v0, tol=0.0)
    order = np.argsort(s)[::-1]
    return s[order], V[:, order]


def top_eigh_diag_lowrank(d, B, k, xp):
    """Top ``k`` eigenpairs of ``diag(d) + B Bᵀ`` without forming it when it is large."""
    r = d.shape[0]
    if k > r:  # fewer non-zero directions than components: pad with null components
        s, V = top_eigh_diag_lowrank(d, B, r, xp)
        return xp.concatenate([s, xp.zeros(k - r)]), xp.concatenate([V, xp.zeros((r, k - r))], axis=1)
    if B is None or B.shape[1] == 0:
        order = xp.argsort(d)[::-1][:k]
        V = xp.zeros((r, k))
        V[order, xp.arange(k)] = 1.0
        return xp.maximum(d[order], 0.0), V
    if xp is not np or r <= 400 or k > r // 10:
        A = xp.diag(d) + B @ B.T
        return top_eigh(A, k, xp, solver="dense")
    from scipy.sparse.linalg import LinearOperator

    op = LinearOperator((r, r), matvec=lambda v: d * v.ravel() + B @ (B.T @ v.ravel()), dtype=np.float64)
    s, V = _arpack(op, k, r)
    return np.maximum(s, 0.0), flip_signs(np.ascontiguousarray(V), np)


def inv_sqrt_or_zero(s, xp, tol):
    """``1/sqrt(s)`` where ``s > tol``, else 0 (dropped directions)."""
    safe = xp.where(s > tol, s, 1.0)
    return xp.where(s > tol, 1.0 / xp.sqrt(safe), 0.0)


def solve_psd(A, B, xp):
    """Solve ``A X = B`` for a symmetric positive (semi)definite ``A``."""
    if xp is np:
        from scipy import linalg

        try:
            return linalg.solve(A, B, assume_a="pos", check_finite=False)
        except (linalg.LinAlgError, ValueError):
            return linalg.lstsq(A, B, check_finite=False)[0]
    return xp.linalg.solve(A, B)


# --------------------------------------------------------------------------------------------
# feature-space engine (PCA, PCovR feature space, Nystrom KPCovR)
# --------------------------------------------------------------------------------------------


class FeatureSpaceCache:
    """Mixing-independent ingredients of feature-space PCovR on centred features ``F``.

    ``C = Fᵀ F = Q Λ Qᵀ`` (eigenvalues ``<= tol`` dropped), ``G = Qᵀ Fᵀ Y``,
    ridge weights ``W = Q (Λ + α)⁻¹ G`` and ``Z = Λ^{1/2} (Λ + α)⁻¹ G``. With
    ``keep_features=True`` it also holds ``F`` (the Nyström model re-projects its training rows
    after a change of mixing); ``F`` is None otherwise.
    """

    def __init__(self, F, Yc, regularization, tol, xp, keep_features=False):
        self.F = F if keep_features else None
        C = F.T @ F
        lam, Q = xp.linalg.eigh(0.5 * (C + C.T))
        keep = lam > tol
        self.lam = lam[keep][::-1]
        self.Q = xp.ascontiguousarray(Q[:, keep][:, ::-1])
        self.tol = tol
        if Yc is not None:
            self.G = self.Q.T @ (F.T @ Yc)
            damp = 1.0 / (self.lam + regularization)
            self.W = self.Q @ (damp[:, None] * self.G)
            self.Z = (xp.sqrt(self.lam) * damp)[:, None] * self.G
        else:
            self.G = self.W = self.Z = None

    @property
    def xp(self):
        # derived, not stored: a module attribute would make fitted estimators unpicklable
        return get_namespace(self.lam)

    def solve(self, mixing, k):
        """Return ``s, pxt, pty, ptx`` (ptx maps T back to F) for one mixing."""
        xp = self.xp
        lam = self.lam
        if self.Z is None or mixing == 1.0:
            B = None
        else:
            B = np.sqrt(1.0 - mixing) * self.Z
        s, v = top_eigh_diag_lowrank(mixing * lam, B, k, xp)
        # eigenvalues of C̃ are those of the r x r problem; v lives in the basis Q
        inv_sqrt_lam = 1.0 / xp.sqrt(lam)
        sqrt_s = xp.sqrt(s)
        isqrt_s = inv_sqrt_or_zero(s, xp, self.tol)
        pxt = self.Q @ ((inv_sqrt_lam[:, None] * v) * sqrt_s[None, :])
        ptx = (isqrt_s[:, None] * (v.T * xp.sqrt(lam)[None, :])) @ self.Q.T
        pty = None
        if self.G is not None:
            pty = isqrt_s[:, None] * (v.T @ (inv_sqrt_lam[:, None] * self.G))
        return s, pxt, pty, ptx


# --------------------------------------------------------------------------------------------
# sample-space engine (PCovR sample space, full KPCovR)
# --------------------------------------------------------------------------------------------


class SampleSpaceCache:
    """Mixing-independent ingredients of sample-space PCovR on a centred Gram matrix ``K``.

    ``W = (K + α I)⁻¹ Y`` (dual ridge / kernel ridge weights) and ``Ŷ = K W``. ``X`` (optional)
    holds the centred features of a linear model, whose projectors are built from them.
    """

    def __init__(self, K, Yc, regularization, xp, eigen_solver="auto", X=None):
        self.K = K
        self.X = X
        self.eigen_solver = eigen_solver
        if Yc is not None:
            n = K.shape[0]
            Kreg = K.copy()
            Kreg[xp.arange(n), xp.arange(n)] += regularization
            self.W = solve_psd(Kreg, Yc, xp)
            del Kreg
            self.Yhat = K @ self.W
            self.Yc = Yc
        else:
            self.W = self.Yhat = self.Yc = None

    @property
    def xp(self):
        return get_namespace(self.K)

    def solve(self, mixing, k, tol):
        """Return ``s, U`` (top-k eigenpairs of K̃) and ``isqrt_s``."""
        xp = self.xp
        if self.Yhat is None or mixing == 1.0:
            Kt = self.K
        else:
            Kt = mixing * self.K
            Kt += (1.0 - mixing) * (self.Yhat @ self.Yhat.T)
        s, U = top_eigh(Kt, k, xp, self.eigen_solver)
        return s, U, inv_sqrt_or_zero(s, xp, tol)


def centred_targets(estimator, y, n, backend, center=True):
    """``y`` checked for ``n`` samples, as (n, n_targets), minus its mean; ``None`` when ``y`` is
    (an unsupervised fit). Sets ``estimator.y_mean_`` (zeros when not ``center``) and
    ``estimator._y_1d`` (whether predictions are 1D)."""
    if y is None:
        return None
    from .._validation import check_y

    y = check_y(y, n, estimator=estimator, backend=backend)
    estimator._y_1d = y.ndim == 1
    Y = y.reshape(n, -1)
    estimator.y_mean_ = Y.mean(axis=0) if center else backend.xp.zeros(Y.shape[1])
    return Y - estimator.y_mean_


class UnsupervisedFit:
    """``fit(X)`` of the unsupervised maps (PCA, KernelPCA): the supervised map's fit at
    ``mixing=1``, with no targets and no regression. A class provides
    ``_fit(X, y, mixing, regularization)``."""

    def fit(self, X, y=None):
        """Fit on ``X`` (``y`` is ignored). Returns self."""
        return self._fit(X, None, mixing=1.0, regularization=0.0)


class MixingFit:
    """``fit(X, y)`` and ``refit(mixing)`` of the supervised maps (PCovR, KernelPCovR).

    A class sets ``_unsupervised`` (the estimator to suggest when ``y`` is missing) and
    ``_refit_needs`` (a fitted attribute ``refit`` requires), and provides
    ``_fit(X, y, mixing, regularization)`` and ``_solve(mixing, n_components)``.
    """

    _unsupervised = ""
    _refit_needs = ""

    def fit(self, X, y):
        """Fit on ``X`` (features, or the training kernel if precomputed) and ``y``
        ((n_samples,) or (n_samples, n_targets)). Returns self."""
        from .._validation import check_y

        if y is None:
            check_y(y, 0, estimator=self, hint=f" (use {self._unsupervised} for an unsupervised map)")
        self.mixing_ = check_mixing(self.mixing)
        return self._fit(X, y, self.mixing_, self.regularization)

    def refit(self, mixing):
        """Re-fit at a new ``mixing`` reusing everything that does not depend on it.

        The parameter ``mixing`` is left as it is; ``mixing_`` holds the new value.

        Returns
        -------
        self
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, [self._refit_needs])
        mixing = check_mixing(mixing)
        self._solve(mixing, self.n_components_)
        self.mixing_ = mixing
        return self

    def set_mixing(self, mixing):
        """Alias of :meth:`refit`."""
        return self.refit(mixing)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        # score is the negative (K)PCovR loss (at most 0), not a coefficient of determination
        tags.regressor_tags.poor_score = True
        return tags
