"""Kernel PCA and kernel PCovR, full (N x N kernel) or sparse (Nyström, FPS active set)."""

from __future__ import annotations

from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import _dispatch
from .. import kernels as _kernels
from .._validation import backend_of, check_n_features, check_X, check_y, to_device
from ..selection import fps_indices, kernel_fps_indices
from . import _base as B

_CHUNK = 4096  # rows of kernel computed at once in transform / Nystrom features


class _KernelPCovBase(TransformerMixin, BaseEstimator):
    # every kernel map's parameters: KernelPCA's, to which KernelPCovR adds mixing and regularization
    def __init__(self, n_components=2, kernel="rbf", gamma=None, degree=2, coef0=0, center=True,
                 n_active=None, kernel_params=None, eigen_solver="auto", tol=1e-12,
                 nystrom_rcond=1e-10, backend="auto"):
        self.n_components = n_components
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.center = center
        self.n_active = n_active
        self.kernel_params = kernel_params
        self.eigen_solver = eigen_solver
        self.tol = tol
        self.nystrom_rcond = nystrom_rcond
        self.backend = backend

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = self.kernel == "precomputed"
        return tags

    # ------------------------------------------------------------ kernels
    def _params(self):
        p = {"gamma": self.gamma, "degree": self.degree, "coef0": self.coef0}
        p.update(self.kernel_params or {})
        return p

    def _kernel(self, X, Y=None):
        """Kernel between rows already on the model's device (computed there)."""
        return _kernels.pairwise_kernel(X, Y, kernel=self.kernel, backend=backend_of(X), filter_params=True,
                                        **self._params())

    def _kernel_diag(self, X, xp):
        """Diagonal ``k(x, x)`` of the kernel for the rows of ``X`` (not for "precomputed")."""
        kern, p = self.kernel, self._params()
        sq = xp.einsum("ij,ij->i", X, X)
        if kern in ("rbf",):
            return xp.ones(X.shape[0])
        if kern == "soap":
            return xp.where(sq > 0, 1.0, 0.0)
        if kern == "linear":
            return sq
        if kern in ("poly", "polynomial"):
            g = p["gamma"] if p["gamma"] is not None else 1.0 / X.shape[1]
            return (g * sq + p["coef0"]) ** p["degree"]
        return xp.stack([self._kernel(X[i:i + 1])[0, 0] for i in range(X.shape[0])])

    # ------------------------------------------------------------ fit
    def _fit(self, X, y, mixing, regularization):
        """Fit at ``mixing`` (1 for kernel PCA) with kernel ridge ``regularization``."""
        be = _dispatch.resolve(self.backend, X, y)
        X = check_X(X, backend=be)
        n = X.shape[0]
        precomputed = self.kernel == "precomputed"
        if precomputed and X.shape[0] != X.shape[1]:
            raise ValueError(f"with kernel='precomputed', X must be the square training kernel; got {X.shape}")
        Yc = B.centred_targets(self, y, n, be, center=self.center)
        check_n_features(self, X, reset=True)
        self.n_samples_in_ = n
        if self.n_active is None:
            k = B.check_n_components(self.n_components, n)
            self._fit_full(X, Yc, be.xp, precomputed, regularization)
        else:
            M = int(self.n_active)
            if not 1 <= M <= n:
                raise ValueError(f"n_active must be in [1, n_samples={n}], got {self.n_active!r}")
            self._fit_nystrom(X, Yc, be, precomputed, M, regularization)
            k = B.check_n_components(self.n_components, self._cache.lam.shape[0])
        self._solve(mixing, k)
        return self

    def _fit_full(self, X, Yc, xp, precomputed, regularization):
        self.X_fit_ = None if precomputed else X
        K = X.copy() if precomputed else self._kernel(X)
        if self.center:
            self.K_fit_rows_ = K.mean(axis=0)
            self.K_fit_all_ = self.K_fit_rows_.mean()
            K -= self.K_fit_rows_[None, :]
            K -= K.mean(axis=1)[:, None]
        self._cache = B.SampleSpaceCache(K, Yc, regularization, xp, self.eigen_solver)
        self._mode = "full"

    def _nystrom_rows(self, X, xp, centre=True):
        """Centred Nyström features of the rows of X, computed by chunks."""
        out = xp.empty((X.shape[0], self.nystrom_projector_.shape[1]))
        for a in range(0, X.shape[0], _CHUNK):
            Xb = X[a:a + _CHUNK]
            Kb = Xb[:, self.active_idx_] if self.kernel == "precomputed" else self._kernel(Xb, self.X_active_)
            out[a:a + _CHUNK] = Kb @ self.nystrom_projector_
        if centre and self.center:
            out -= self.phi_mean_[None, :]
        return out

    def _fit_nystrom(self, X, Yc, be, precomputed, M, regularization):
        xp = be.xp
        if precomputed:
            active = xp.asarray(kernel_fps_indices(X, M, backend=be))
            K_mm = X[active][:, active]
            self.X_active_ = None
        else:
            active = xp.asarray(fps_indices(X, M, backend=be))
            self.X_active_ = X[active]
            K_mm = self._kernel(self.X_active_)
        self.active_idx_ = active
        self.nystrom_projector_ = _kernels.nystrom_projector(K_mm, rcond=self.nystrom_rcond)
        self.phi_mean_ = xp.zeros(self.nystrom_projector_.shape[1])
        F = self._nystrom_rows(X, xp, centre=False)
        if self.center:
            self.phi_mean_ = F.mean(axis=0)
            F -= self.phi_mean_[None, :]
        # F is kept: a change of mixing re-projects the training rows without recomputing kernels
        self._cache = B.FeatureSpaceCache(F, Yc, regularization, self.tol, xp, keep_features=True)
        self._mode = "nystrom"

    def _solve(self, mixing, k):
        xp = self._cache.xp
        cache = self._cache
        if self._mode == "full":
            s, U, isqrt = cache.solve(mixing, k, self.tol)
            P = mixing * U
            if cache.Yhat is not None and mixing < 1.0:
                P = P + (1.0 - mixing) * (cache.W @ (cache.Yhat.T @ U))
            self.pkt_ = P * isqrt[None, :]
            self.embedding_ = U * xp.sqrt(s)[None, :]
            self._U, self._isqrt = U, isqrt
            if cache.Yc is not None:
                self.pty_ = isqrt[:, None] * (U.T @ cache.Yc)
                self.dual_coef_ = cache.W
        else:
            s, pxt, pty, ptx = cache.solve(mixing, k)
            self.pxt_ = pxt  # Nystrom features -> T
            self.ptx_ = ptx  # T -> Nystrom features
            # T = K(X, X_active) @ pkt_ - offset
            self.pkt_ = self.nystrom_projector_ @ pxt
            self._t_offset = self.phi_mean_ @ pxt
            self.embedding_ = cache.F @ pxt
            if pty is not None:
                self.pty_ = pty
                self.dual_coef_ = self.nystrom_projector_ @ cache.W
        self.n_components_ = k
        self.eigenvalues_ = s
        self.explained_variance_ = s / max(self.n_samples_in_ - 1, 1)
        if hasattr(self, "pty_"):
            self.pky_ = self.pkt_ @ self.pty_

    # ------------------------------------------------------------ apply
    def _prepare(self, X):
        """``xp``, validated ``X`` on the fitted model's device, and whether CuPy came in."""
        cc = _dispatch.is_cupy_array(X)
        be = backend_of(self.pkt_)
        X = check_X(X, backend=be)
        precomputed = self.kernel == "precomputed"
        check_n_features(self, X, reset=False,
                         columns="with kernel='precomputed', the kernel's columns, one per training sample"
                         if precomputed else None)
        return be.xp, X, cc

    def _centred_kernel_rows(self, Xb, xp):
        """Centred kernel between rows and the training set (full mode)."""
        Kb = Xb if self.kernel == "precomputed" else self._kernel(Xb, self.X_fit_)
        if self.center:
            Kb = Kb - self.K_fit_rows_[None, :] - Kb.mean(axis=1)[:, None] + self.K_fit_all_
        return Kb

    def _apply(self, X, P, offset=None):
        """``K_c(X) @ P`` by chunks, ``K_c`` the centred kernel with the fitted set."""
        xp, X, cc = self._prepare(X)
        out = xp.empty((X.shape[0], P.shape[1]))
        for a in range(0, X.shape[0], _CHUNK):
            Xb = X[a:a + _CHUNK]
            if self._mode == "full":
                out[a:a + _CHUNK] = self._centred_kernel_rows(Xb, xp) @ P
            else:
                Kb = Xb[:, self.active_idx_] if self.kernel == "precomputed" else self._kernel(Xb, self.X_active_)
                out[a:a + _CHUNK] = Kb @ P
        if offset is not None:
            out -= offset[None, :]
        return xp, out, cc

    def _t_offset_or_none(self):
        return self._t_offset if self._mode == "nystrom" and self.center else None

    def transform(self, X):
        """Latent coordinates ``T`` of new samples.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or (n_samples, n_train) kernel with the
            training samples when ``kernel="precomputed"``.

        Returns
        -------
        T : array of shape (n_samples, n_components)
        """
        check_is_fitted(self, ["pkt_"])
        _, T, cc = self._apply(X, self.pkt_, self._t_offset_or_none())
        return B.as_input_type(T, cc)

    def fit_transform(self, X, y=None):
        """Fit and return the training set's latent coordinates (no second kernel evaluation)."""
        self.fit(X, y)
        return B.as_input_type(self.embedding_, _dispatch.is_cupy_array(X))


_PRECOMPUTED_SCORE_REASON = (
    "with kernel='precomputed' and the full model, score needs kernel_diag (k(x, x) of the scored "
    "samples), which the (n_samples, n_train) kernel passed as X does not contain; scikit-learn's "
    "checks call score(X, y) without it, and score refuses rather than guess"
)


class KernelPCovR(B.MixingFit, RegressorMixin, _KernelPCovBase):
    r"""Kernel principal covariates regression (Helfrecht et al. 2020), full or sparse (Nyström).

    Full (``n_active=None``): with the centred kernel ``K`` and kernel ridge weights
    ``W = (K + λ I)⁻¹ Y``, ``Ŷ = K W``, the latent space is spanned by the top eigenvectors ``U``
    (eigenvalues ``S``) of ``K̃ = a K + (1 - a) Ŷ Ŷᵀ``, and
    ``P_KT = (a I + (1 - a) W Ŷᵀ) U S^{-1/2}``, ``T = K P_KT``, ``P_TY = S^{-1/2} Uᵀ Y``: the
    definitions of ``skmatter.decomposition.KernelPCovR`` with a ``KernelRidge(alpha=λ)``
    regressor. ``mixing=1`` is kernel PCA, ``mixing=0`` pure kernel regression.

    Sparse (``n_active=M``): ``M`` active samples are picked by farthest point sampling, the
    kernel is replaced by its Nyström approximation ``K_NM K_MM⁻¹ K_MN = Φ Φᵀ`` and linear
    PCovR runs in feature space on the ``N x M`` features ``Φ`` (projected-process kernel ridge
    for ``Ŷ``). Cost O(N M²) time and O(N M) memory, never an ``N x N`` matrix. With ``M = N``
    it equals the full model.

    Centring: with ``center=True`` the kernel (or ``Φ``) is centred in fit and, with the
    training means, in transform/predict, and ``y`` is centred with its mean added back in
    predict.

    Mixing re-fit: :meth:`refit` (alias ``set_mixing``) reuses the centred kernel or Nyström
    features, the regression and (sparse mode) the eigendecomposition of ``ΦᵀΦ``; the sparse
    re-fit costs an eigenproblem of a diagonal plus low-rank ``M x M`` matrix and one
    ``N x M x n_components`` product for ``embedding_``. It sets ``mixing_`` and leaves the
    ``mixing`` parameter as it is.

    :meth:`score` is correct for held-out sets of any size (scikit-matter's mixes the
    held-out and training kernels and fails or is wrong unless the sizes are equal).

    Parameters
    ----------
    mixing : float in [0, 1], default=0.5
    n_components : int, default=2
    kernel : {"rbf", "linear", "poly", "soap", "precomputed"}, default="rbf"
    gamma : float, optional
        rbf and poly; defaults to 1 / n_features.
    degree : int, default=2
        poly.
    coef0 : float, default=0
        poly.
    regularization : float, default=1e-6
        Kernel ridge regularisation ``λ``.
    center : bool, default=True
    n_active : int, optional
        Number of FPS-selected active samples for the sparse (Nyström) model.
    kernel_params : dict, optional
        Extra kernel parameters (e.g. ``{"zeta": 2}`` for "soap").
    eigen_solver : {"auto", "dense", "arpack"}, default="auto"
        Full mode: dense (subset) eigensolver or ARPACK (Lanczos, for large ``N``).
    tol : float, default=1e-12
    nystrom_rcond : float, default=1e-10
        Relative cut-off on the eigenvalues of ``K_MM``.
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Where ``fit`` computes (:func:`compute._dispatch.resolve`; ``"numba"`` also picks the
        compiled FPS of the active set). ``transform`` and ``predict`` compute where the fitted
        model is and return the array type they are given.

    Attributes
    ----------
    mixing_ : the mixing of the fitted model (``mixing``, or the last :meth:`refit`).
    pkt_ : (n_train or n_active, n_components) projector from kernel columns to T.
    pty_ : (n_components, n_targets) projector T -> y.
    pky_ : projector from kernel columns to y.
    embedding_ : (n_samples, n_components) latent coordinates of the training samples.
    eigenvalues_ : eigenvalues of the PCovR matrix.
    active_idx_ : (sparse mode) indices of the active samples.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5)); y = np.sin(X[:, 0]) + X[:, 1] ** 2
    >>> model = KernelPCovR(mixing=0.5, n_components=2, gamma=0.2).fit(X, y)
    >>> model.transform(X[:3]).shape, model.predict(X[:3]).shape
    ((3, 2), (3,))
    >>> sparse = KernelPCovR(mixing=0.5, gamma=0.2, n_active=50).fit(X, y)
    >>> sparse.refit(0.9).embedding_.shape
    (200, 2)
    """

    _unsupervised = "KernelPCA"  # suggested when y is missing
    _refit_needs = "pkt_"

    def __init__(self, mixing=0.5, n_components=2, kernel="rbf", gamma=None, degree=2, coef0=0,
                 regularization=1e-6, center=True, n_active=None, kernel_params=None,
                 eigen_solver="auto", tol=1e-12, nystrom_rcond=1e-10, backend="auto"):
        super().__init__(n_components=n_components, kernel=kernel, gamma=gamma, degree=degree, coef0=coef0,
                         center=center, n_active=n_active, kernel_params=kernel_params,
                         eigen_solver=eigen_solver, tol=tol, nystrom_rcond=nystrom_rcond, backend=backend)
        self.mixing = mixing
        self.regularization = regularization

    def _expected_failed_checks(self):
        """scikit-learn estimator checks this instance is known to fail, with the reason (for
        ``parametrize_with_checks(..., expected_failed_checks=...)``)."""
        if self.kernel != "precomputed" or self.n_active is not None:
            return {}
        return {"check_fit_score_takes_y": _PRECOMPUTED_SCORE_REASON,
                "check_pipeline_consistency": _PRECOMPUTED_SCORE_REASON}

    def _y_offset_or_none(self):
        return self.phi_mean_ @ self.pxt_ @ self.pty_ if self._mode == "nystrom" and self.center else None

    def predict(self, X):
        """Predicted targets for new samples (kernel ridge through the latent space)."""
        check_is_fitted(self, ["pky_"])
        _, Yp, cc = self._apply(X, self.pky_, self._y_offset_or_none())
        Yp = B.as_input_type(Yp + self.y_mean_[None, :], cc)
        return Yp.ravel() if self._y_1d else Yp

    def score(self, X, y, kernel_diag=None):
        r"""Negative total loss ``-(ℓ_KPCA + ℓ_KRR)`` on any set of samples (higher is better).

        ``ℓ_KRR = ||Y - Ŷ||² / ||Y - ȳ||²`` (``ȳ`` the training mean, 0 with ``center=False``).
        ``ℓ_KPCA`` is the relative error of reconstructing the held-out samples' (centred)
        feature-space images from their latent coordinates with the least-squares map fitted on
        the training set: with ``T_N``, ``T_V`` the training and held-out latent coordinates and
        ``w = T_N (T_Nᵀ T_N)⁻¹ T_Vᵀ``,
        ``ℓ_KPCA = Tr(K_VV - 2 K_VN w + wᵀ K_NN w) / Tr(K_VV)``. scikit-matter uses ``K_VV`` in
        place of ``K_NN`` in the last term (only defined when both sets have the same size, and
        then wrong unless they are the same set). In sparse mode the same loss is computed with
        the Nyström features.

        Parameters
        ----------
        X : array of shape (n_samples, n_features), or (n_samples, n_train) kernel if precomputed
        y : array of shape (n_samples,) or (n_samples, n_targets)
        kernel_diag : array of shape (n_samples,), optional
            ``k(x, x)`` of the samples; needed (full mode) only when ``kernel="precomputed"``.
        """
        check_is_fitted(self, ["pky_"])
        xp, Xd, _ = self._prepare(X)
        be = backend_of(Xd)
        Y = check_y(y, Xd.shape[0], estimator=self, backend=be).reshape(Xd.shape[0], -1)
        _, Yp, _ = self._apply(Xd, self.pky_, self._y_offset_or_none())
        Yp = Yp + self.y_mean_[None, :]
        l_krr = float(xp.sum((Y - Yp) ** 2) / xp.sum((Y - self.y_mean_) ** 2))
        _, T_V, _ = self._apply(Xd, self.pkt_, self._t_offset_or_none())
        if self._mode == "nystrom":
            F = self._nystrom_rows(Xd, xp)
            l_kpca = float(xp.sum((F - T_V @ self.ptx_) ** 2) / xp.sum(F ** 2))
            return -(l_kpca + l_krr)
        U, isqrt, K = self._U, self._isqrt, self._cache.K
        # K_VN (centred) rows by chunks: Tr(K_VN w) = sum((K_VN U S^-1/2) * T_V)
        KU = xp.empty((Xd.shape[0], U.shape[1]))
        row_means = xp.empty(Xd.shape[0])
        for a in range(0, Xd.shape[0], _CHUNK):
            Kb = Xd[a:a + _CHUNK] if self.kernel == "precomputed" else self._kernel(Xd[a:a + _CHUNK], self.X_fit_)
            row_means[a:a + _CHUNK] = Kb.mean(axis=1)
            if self.center:
                Kb = Kb - self.K_fit_rows_[None, :] - row_means[a:a + _CHUNK][:, None] + self.K_fit_all_
            KU[a:a + _CHUNK] = Kb @ U
        A = T_V * isqrt[None, :]  # w = U A^T
        tr_vn = float(xp.sum((KU * isqrt[None, :]) * T_V))
        UKU = U.T @ (K @ U)
        tr_nn = float(xp.sum((A @ UKU) * A))
        if kernel_diag is None:
            if self.kernel == "precomputed":
                raise ValueError("score with kernel='precomputed' needs kernel_diag=k(x, x) of the samples")
            kernel_diag = self._kernel_diag(Xd, xp)
        diag = xp.asarray(to_device(kernel_diag, be), dtype=xp.float64).reshape(-1)
        if diag.shape[0] != Xd.shape[0]:
            raise ValueError(f"kernel_diag has {diag.shape[0]} values but X has {Xd.shape[0]} samples")
        if self.center:
            diag = diag - 2.0 * row_means + self.K_fit_all_
        tr_vv = float(xp.sum(diag))
        l_kpca = (tr_vv - 2.0 * tr_vn + tr_nn) / tr_vv
        return -(l_kpca + l_krr)


class KernelPCA(B.UnsupervisedFit, _KernelPCovBase):
    """Kernel PCA (the ``mixing=1`` limit of :class:`KernelPCovR`), full or Nyström.

    Equals :class:`sklearn.decomposition.KernelPCA` (same kernel, centred) up to the sign of each
    component. Parameters as :class:`KernelPCovR` without the regression ones.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> KernelPCA(n_components=2, gamma=0.3).fit_transform(X).shape
    (100, 2)
    """
