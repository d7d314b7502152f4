"""Greedy selection of samples or features: FPS, CUR, PCovFPS, PCovCUR.

The definitions are scikit-matter 0.4's (``skmatter.sample_selection`` /
``skmatter.feature_selection``), and on the same data the same indices come out, in the same
order: FPS from a given first point with squared distances ``|a|² + |b|² - 2 a·b``; CUR and
PCovCUR with importance scores from the top singular vector, recomputed after each selection once
the data are orthogonalised against the selected row or column. ``axis="samples"`` selects rows,
``axis="features"`` selects columns; ``transform`` returns the selected rows or columns.

FPS is O(N d) per selected point (one matrix-vector product and an element-wise minimum). All FPS
variants (on features, on a kernel, in the PCovR metric) run one loop, on the ``backend`` of
:mod:`compute._dispatch`: array code for "numpy" and "cupy", a compiled loop with
triangle-inequality pruning for "numba" on explicit feature rows. CUR and PCovCUR run on the CPU.

The estimators are scikit-learn transformers (``TransformerMixin``; PCovFPS and PCovCUR require
``y``) and pass ``sklearn.utils.estimator_checks``, except, for ``axis="samples"``, the checks
that assume one output row per input row (see ``_Selector._expected_failed_checks``).
"""

from __future__ import annotations

import numbers

import numba
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from . import _dispatch
from ._dispatch import get_namespace
from ._validation import check_n_features, check_X, check_y

__all__ = ["fps_indices", "kernel_fps_indices", "FPS", "CUR", "PCovFPS", "PCovCUR"]

_TOL = 1e-12


def _check_n(n_to_select, n_total, what):
    if n_to_select is None:  # scikit-matter's default: half of them
        return max(n_total // 2, 1)
    if isinstance(n_to_select, numbers.Integral) and 0 < n_to_select <= n_total:
        return int(n_to_select)
    if isinstance(n_to_select, numbers.Real) and not isinstance(n_to_select, numbers.Integral) \
            and 0 < n_to_select <= 1:
        return max(int(n_total * n_to_select), 1)
    raise ValueError(f"n_to_select must be an integer in [1, {n_total}] or a fraction in (0, 1] "
                     f"of the {n_total} {what}; got {n_to_select!r}")


def _check_initialize(initialize, n_items, n):
    """The first pick(s) as a list of distinct indices (at most ``n`` of them are used)."""
    first = list(initialize) if isinstance(initialize, (list, tuple, np.ndarray)) else [initialize]
    for i in first:
        if not isinstance(i, numbers.Integral) or not 0 <= i < n_items:
            raise ValueError(f"initialize must be index(es) in [0, {n_items}), got {i!r}")
    if len(set(int(i) for i in first)) != len(first) or not first:
        raise ValueError(f"initialize must be distinct indices, got {initialize!r}")
    return [int(i) for i in first[:n]]


# ----------------------------------------------------------------------------------------------
# farthest point sampling: one algorithm, two code paths
#
# Every FPS here (on feature rows, on kernel rows, in the PCovR metric) is the same greedy loop
# on squared distances d(i, j)^2 = g_ii + g_jj - 2 g_ij of a Gram matrix g: pick the item farthest
# from the selected set, lower every item's distance to the set with the new pick's row of g.
# ``_fps_gram`` runs it with array code (NumPy or CuPy) given a function returning a row of g;
# ``_fps_rows_numba`` is the same loop on explicit feature rows, compiled, with pruning.
# ----------------------------------------------------------------------------------------------


def _fps_gram(xp, norms, gram_row, n, first):
    """FPS from the squared norms ``g_ii`` and ``gram_row(i) = g[i]`` (NumPy or CuPy arrays).

    Returns ``(selected, hausdorff, hausdorff_at_select)`` as NumPy arrays: the picks in order,
    each item's squared distance to the selected set, and each pick's distance when picked.
    """
    n_items = norms.shape[0]
    selected = np.empty(n, dtype=np.int64)
    at_select = np.full(n, np.inf)
    hausdorff = xp.full(n_items, xp.inf)
    chosen = xp.zeros(n_items, dtype=bool)
    for step in range(n):
        if step < len(first):
            last = first[step]
        else:  # first maximum, as scikit-matter (np.argmax)
            last = int(xp.argmax(xp.where(chosen, -xp.inf, hausdorff)))
        at_select[step] = float(hausdorff[last])
        selected[step] = last
        chosen[last] = True
        xp.minimum(hausdorff, norms + norms[last] - 2.0 * gram_row(last), out=hausdorff)
    return selected, _dispatch.to_numpy(hausdorff), at_select


# fastmath without "ninf"/"nnan": the kernel starts distances at +inf and compares against them
@numba.njit(cache=True, parallel=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _fps_rows_numba(X, norms, n_select, first):
    """:func:`_fps_gram` on the rows of ``X`` (``g = X Xᵀ``), with triangle-inequality pruning.

    A point whose nearest selected centre ``c`` is at distance ``r`` cannot get closer to a new
    centre ``s`` when ``|c - s| >= 2 r``; its row of ``X`` is then not read at all, and its
    distance to the set is already exact. Exact up to round-off (a safety margin keeps pruning
    conservative).
    """
    N, d = X.shape
    selected = np.empty(n_select, np.int64)
    at_select = np.empty(n_select)
    hd = np.full(N, np.inf)
    assign = np.full(N, -1, np.int64)
    chosen = np.zeros(N, np.bool_)
    cdist = np.empty(n_select)
    margin = 1e-7 * np.sqrt(norms.max())
    s = first[0]
    for step in range(n_select):
        if step < first.shape[0]:
            s = first[step]
        at_select[step] = hd[s]
        selected[step] = s
        chosen[s] = True
        for c in range(step):
            j = selected[c]
            dot = 0.0
            for k in range(d):
                dot += X[j, k] * X[s, k]
            cdist[c] = np.sqrt(max(norms[j] + norms[s] - 2.0 * dot, 0.0))
        ns = norms[s]
        xs = X[s].copy()
        for i in numba.prange(N):
            a = assign[i]
            if a >= 0 and cdist[a] > 2.0 * np.sqrt(max(hd[i], 0.0)) * (1.0 + 1e-10) + margin:
                continue
            xi = X[i]
            dot = 0.0
            for k in range(d):
                dot += xi[k] * xs[k]
            v = norms[i] + ns - 2.0 * dot
            if v < hd[i]:
                hd[i] = v
                assign[i] = step
        best = -np.inf
        s = -1
        for i in range(N):
            if not chosen[i] and hd[i] > best:
                best = hd[i]
                s = i
        if s < 0:
            s = 0
    return selected, hd, at_select


def _fps_rows(P, n, initialize, backend):
    """FPS on the rows of the validated array ``P`` with a resolved backend."""
    n = _check_n(n, P.shape[0], "samples")
    first = _check_initialize(initialize, P.shape[0], n)
    xp = get_namespace(P)
    norms = xp.einsum("ij,ij->i", P, P)
    if backend.name == "numba":
        return _fps_rows_numba(np.ascontiguousarray(P), norms, n, np.asarray(first, dtype=np.int64))
    return _fps_gram(xp, norms, lambda i: P @ P[i], n, first)


def fps_indices(X, n, initialize=0, backend="auto"):
    """Indices of ``n`` rows of ``X`` picked by farthest point sampling (Euclidean).

    Same picks as ``skmatter.sample_selection.FPS(n_to_select=n, initialize=initialize)`` (up to
    exact floating-point ties). ``backend`` (:mod:`compute._dispatch`): ``"numba"`` is a parallel
    kernel with triangle-inequality pruning (at most O(N d) per pick, much less once the selected
    set covers the data), ``"numpy"`` the plain array loop, ``"cupy"`` that loop on the GPU.
    Memory O(N) beyond ``X``. Returns a NumPy array of indices.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]])
    >>> fps_indices(X, 3).tolist()
    [0, 2, 3]
    >>> fps_indices(X, 3, backend="numpy").tolist()
    [0, 2, 3]
    """
    be = _dispatch.resolve(backend, X)
    X = check_X(X, backend=be)
    return _fps_rows(X, n, initialize, be)[0]


def kernel_fps_indices(K, n, initialize=0, backend="auto"):
    """FPS with the distances a kernel induces: ``d² = K_ii + K_jj - 2 K_ij``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [4.0]])
    >>> kernel_fps_indices(X @ X.T, 2).tolist()
    [0, 2]
    """
    be = _dispatch.resolve(backend, K)
    K = check_X(K, name="K", backend=be)
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"K must be a square kernel matrix, got shape {K.shape}")
    n = _check_n(n, K.shape[0], "samples")
    xp = get_namespace(K)
    # no compiled path: a row of K is read, not computed, so the array loop is as fast
    return _fps_gram(xp, xp.ascontiguousarray(xp.diag(K)), lambda i: K[i], n,
                     _check_initialize(initialize, K.shape[0], n))[0]


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------

_SAMPLE_AXIS_REASON = (
    "a sample selector's transform returns the selected rows of the X it was fitted on, not one "
    "row per input sample, so scikit-learn's transformer checks (as many rows out as in, "
    "invariance to subsets and row order, transform of held-out data) do not apply to "
    "axis='samples'"
)


class _Selector(TransformerMixin, BaseEstimator):
    _supervised = False

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = self._supervised
        return tags

    def _expected_failed_checks(self):
        """scikit-learn estimator checks this instance is known to fail, with the reason (for
        ``parametrize_with_checks(..., expected_failed_checks=...)``): the transformer contract
        assumes one output row per input row, which selecting samples cannot give."""
        if self.axis != "samples":
            return {}
        return {name: _SAMPLE_AXIS_REASON for name in (
            "check_transformer_general", "check_transformer_data_not_an_array",
            "check_methods_subset_invariance", "check_methods_sample_order_invariance",
            "check_fit_idempotent")}

    def _setup(self, X, y=None, backend=None):
        """Validated ``X`` (and ``y`` as (n, n_targets) for supervised selectors), the axis and
        the number of items to select."""
        if self.axis not in ("samples", "features"):
            raise ValueError(f"axis must be 'samples' or 'features', got {self.axis!r}")
        X = check_X(X, backend=backend or _dispatch.resolve("numpy"), min_samples=2, min_features=2)
        if self._supervised:
            y = check_y(y, X.shape[0], estimator=self, backend=backend or _dispatch.resolve("numpy"))
            y = y.reshape(X.shape[0], -1)
        else:
            y = None  # unsupervised selectors ignore y
        check_n_features(self, X, reset=True)
        self.n_samples_in_ = X.shape[0]
        ax = 0 if self.axis == "samples" else 1
        n = _check_n(self.n_to_select, X.shape[ax], self.axis)
        return X, y, ax, n

    def _finish(self, selected, n_items):
        self.selected_idx_ = np.asarray(selected, dtype=np.int64)
        self.n_selected_ = len(self.selected_idx_)
        self.support_ = np.zeros(n_items, dtype=bool)
        self.support_[self.selected_idx_] = True
        return self

    def get_support(self, indices=False):
        """Boolean mask of the selected items, or their indices in selection order."""
        check_is_fitted(self, ["selected_idx_"])
        return self.selected_idx_ if indices else self.support_

    def transform(self, X):
        """The selected rows (``axis="samples"``, of the ``X`` that was fitted) or columns
        (``axis="features"``) of ``X``, in selection order, on the device of ``X``."""
        check_is_fitted(self, ["selected_idx_"])
        X = check_X(X)
        check_n_features(self, X, reset=False)
        idx = get_namespace(X).asarray(self.selected_idx_)
        if self.axis == "samples":
            if X.shape[0] != self.n_samples_in_:
                raise ValueError(f"X has {X.shape[0]} samples: a sample selector's transform takes the "
                                 f"{self.n_samples_in_} samples it was fitted on")
            return X[idx]
        return X[:, idx]


class FPS(_Selector):
    """Farthest point sampling of samples or features (scikit-matter's FPS).

    Parameters
    ----------
    n_to_select : int, float in (0, 1] or None, default=None
        Number (or fraction) of items to select; ``None`` selects half of them.
    initialize : int or list of int, default=0
        The first selected index (or indices).
    axis : {"samples", "features"}, default="samples"
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Where the selection runs (:func:`fps_indices`).

    Attributes
    ----------
    selected_idx_ : array of int, in selection order.
    hausdorff_ : squared distance of each item to the selected set.
    hausdorff_at_select_ : squared distance of each pick to the set before it was picked.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(100, 5))
    >>> FPS(n_to_select=4).fit(X).selected_idx_.shape
    (4,)
    >>> FPS(n_to_select=3, axis="features").fit(X).transform(X).shape
    (100, 3)
    """

    def __init__(self, n_to_select=None, initialize=0, axis="samples", backend="auto"):
        self.n_to_select = n_to_select
        self.initialize = initialize
        self.axis = axis
        self.backend = backend

    def fit(self, X, y=None):
        """Select; returns self (``y`` is ignored)."""
        be = _dispatch.resolve(self.backend, X)
        X, _, ax, n = self._setup(X, backend=be)
        P = X if ax == 0 else get_namespace(X).ascontiguousarray(X.T)
        sel, haus, at = _fps_rows(P, n, self.initialize, be)
        self.hausdorff_ = haus
        self.hausdorff_at_select_ = at
        return self._finish(sel, P.shape[0])


def _pcovr_covariance(mixing, X, Y, rcond=_TOL):
    """Feature-space PCovR matrix ``a XᵀX + (1-a) C^{-1/2} XᵀY YᵀX C^{-1/2}`` (scikit-matter)."""
    xp = get_namespace(X)
    XtX = X.T @ X
    C = xp.zeros_like(XtX)
    if mixing < 1:
        lam, Q = xp.linalg.eigh(XtX)
        keep = lam > rcond
        Q, lam = Q[:, keep], lam[keep]
        iC = (Q / xp.sqrt(lam)) @ Q.T
        CY = iC @ (X.T @ Y)
        C += (1 - mixing) * (CY @ CY.T)
    if mixing > 0:
        C += mixing * XtX
    return C


def _pcovr_kernel(mixing, X, Y):
    return mixing * (X @ X.T) + (1 - mixing) * (Y @ Y.T)


class PCovFPS(_Selector):
    """FPS in the PCovR metric, mixing features with targets (scikit-matter's PCovFPS).

    Parameters
    ----------
    n_to_select : int, float or None, default=None
        As in :class:`FPS`.
    mixing : float in [0, 1), default=0.5
    initialize : int, default=0
    axis : {"samples", "features"}, default="samples"
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        ``"cupy"`` builds the PCovR Gram matrix and runs the selection on the GPU; the CPU
        backends run them with NumPy.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 6)); y = X[:, 0] + 0.1 * rng.normal(size=60)
    >>> PCovFPS(n_to_select=5, mixing=0.5).fit(X, y).selected_idx_.shape
    (5,)
    """

    _supervised = True

    def __init__(self, n_to_select=None, mixing=0.5, initialize=0, axis="samples", backend="auto"):
        self.n_to_select = n_to_select
        self.mixing = mixing
        self.initialize = initialize
        self.axis = axis
        self.backend = backend

    def fit(self, X, y):
        """Select; returns self."""
        if self.mixing == 1.0:
            raise ValueError("mixing=1 is plain FPS: use FPS")
        be = _dispatch.resolve(self.backend, X)
        X, y, ax, n = self._setup(X, y, backend=be)
        D = _pcovr_kernel(self.mixing, X, y) if ax == 0 else _pcovr_covariance(self.mixing, X, y)
        xp = get_namespace(D)
        first = _check_initialize(self.initialize, D.shape[0], n)
        sel, haus, at = _fps_gram(xp, xp.ascontiguousarray(xp.diag(D)), lambda i: D[i], n, first)
        self.hausdorff_ = haus
        self.hausdorff_at_select_ = at
        return self._finish(sel, D.shape[0])


def _top_singular_scores(X, k, ax):
    from scipy.sparse.linalg import svds

    if ax == 0:
        U, _, _ = svds(X, k=k, random_state=0, return_singular_vectors="u")
        return (np.real(U[:, :k]) ** 2).sum(axis=1)
    _, _, Vt = svds(X, k=k, random_state=0, return_singular_vectors="vh")
    return (np.real(Vt) ** 2).sum(axis=0)


def _orthogonalize(Xc, idx, ax, tol):
    """Remove from every row (ax=0) / column (ax=1) its component along the selected one."""
    v = Xc[idx].copy() if ax == 0 else Xc[:, idx].copy()
    nv = np.linalg.norm(v)
    if nv >= tol:
        v /= nv
    if ax == 0:
        Xc -= np.outer(Xc @ v, v)
    else:
        Xc -= np.outer(v, v @ Xc)


class CUR(_Selector):
    """CUR selection with iterative orthogonalisation (scikit-matter's CUR, ``recompute_every=1``).

    The importance of item ``i`` is the squared ``i``-th entry of the top ``k`` left (samples)
    or right (features) singular vectors; after each pick the data are orthogonalised against it
    and the scores recomputed.

    Runs on the CPU (SciPy's sparse SVD); CuPy input is copied to the host.

    Parameters
    ----------
    n_to_select : int, float or None, default=None
        As in :class:`FPS`.
    axis : {"samples", "features"}, default="samples"
    k : int, default=1
        Number of singular vectors in the score.
    tolerance : float, default=1e-12

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 8))
    >>> CUR(n_to_select=3, axis="features").fit(X).transform(X).shape
    (40, 3)
    """

    def __init__(self, n_to_select=None, axis="samples", k=1, tolerance=_TOL):
        self.n_to_select = n_to_select
        self.axis = axis
        self.k = k
        self.tolerance = tolerance

    def _scores(self, Xc, yc, ax):
        return _top_singular_scores(Xc, self.k, ax)

    def _update_y(self, X, y, Xc, yc, sel, ax):
        return yc

    def fit(self, X, y=None):
        """Select; returns self (``y`` is used by :class:`PCovCUR` only)."""
        X, y, ax, n = self._setup(X, y)
        Xc = X.copy()
        yc = None if y is None else y.copy()
        pi = self._scores(Xc, yc, ax)
        sel = []
        chosen = np.zeros(X.shape[ax], dtype=bool)
        for _ in range(n):
            idx = int(np.argmax(np.where(chosen, -np.inf, pi)))
            sel.append(idx)
            chosen[idx] = True
            _orthogonalize(Xc, idx, ax, self.tolerance)
            yc = self._update_y(X, y, Xc, yc, sel, ax)
            pi = self._scores(Xc, yc, ax)
            pi[idx] = 0.0
        self.pi_ = pi
        self.X_current_ = Xc
        return self._finish(sel, X.shape[ax])


class PCovCUR(CUR):
    """CUR in the PCovR metric (scikit-matter's PCovCUR, ``recompute_every=1``).

    Scores come from the top eigenvector(s) of ``a X Xᵀ + (1-a) y yᵀ`` (samples) or of the
    feature-space PCovR covariance (features); after each pick both ``X`` and ``y`` are
    orthogonalised against the selection.

    Parameters
    ----------
    n_to_select : int, float or None, default=None
        As in :class:`FPS`.
    mixing : float in [0, 1], default=0.5
    axis : {"samples", "features"}, default="samples"
    k : int, default=1
    tolerance : float, default=1e-12

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 8)); y = X[:, :2].sum(axis=1)
    >>> PCovCUR(n_to_select=3, axis="features").fit(X, y).selected_idx_.shape
    (3,)
    """

    _supervised = True

    def __init__(self, n_to_select=None, mixing=0.5, axis="samples", k=1, tolerance=_TOL):
        self.n_to_select = n_to_select
        self.mixing = mixing
        self.axis = axis
        self.k = k
        self.tolerance = tolerance

    def _scores(self, Xc, yc, ax):
        from scipy.linalg import eigh
        from scipy.sparse.linalg import eigsh

        D = _pcovr_kernel(self.mixing, Xc, yc) if ax == 0 else _pcovr_covariance(self.mixing, Xc, yc)
        if self.k < D.shape[0] - 1:
            v, U = eigsh(D, k=self.k, tol=1e-12)
        else:
            v, U = eigh(D)
        U = U[:, np.argsort(v)[::-1]]
        return (np.real(U)[:, : self.k] ** 2).sum(axis=1)

    def _update_y(self, X, y, Xc, yc, sel, ax):
        if ax == 0:
            Xs, ys = X[sel], y[sel]
            return y - X @ np.linalg.lstsq(Xs, ys, rcond=self.tolerance)[0]
        Xs = X[:, sel]
        proj = Xs @ np.linalg.pinv(Xs.T @ Xs, rcond=self.tolerance) @ Xs.T
        return yc - proj @ yc
