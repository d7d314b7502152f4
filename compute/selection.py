"""Greedy selection of samples or features: FPS, CUR, PCovFPS, PCovCUR.

The definitions are scikit-matter 0.4's (``skmatter.sample_selection`` /
``skmatter.feature_selection``), and on the same data the same indices come out, in the same
order: FPS from a given first point with squared distances ``|a|² + |b|² - 2 a·b``; CUR and
PCovCUR with importance scores from the top singular vector, recomputed after each selection once
the data are orthogonalised against the selected row or column. ``axis="samples"`` selects rows,
``axis="features"`` selects columns; ``transform`` returns the selected rows or columns.

FPS is O(N d) per selected point (one matrix-vector product and an element-wise minimum).
"""

from __future__ import annotations

import numbers

import numba
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

__all__ = ["fps_indices", "FPS", "CUR", "PCovFPS", "PCovCUR"]

_TOL = 1e-12


def _check_n(n_to_select, n_total, what):
    if isinstance(n_to_select, numbers.Integral) and 0 < n_to_select <= n_total:
        return int(n_to_select)
    if isinstance(n_to_select, numbers.Real) and not isinstance(n_to_select, numbers.Integral) \
            and 0 < n_to_select <= 1:
        return int(n_total * n_to_select)
    raise ValueError(f"n_to_select must be an integer in [1, {n_total}] or a fraction in (0, 1] "
                     f"of the {n_total} {what}; got {n_to_select!r}")


def _fps_from_gram_rows(norms, gram_row, n, initialize):
    """Generic FPS: ``gram_row(i)`` returns the inner products of item ``i`` with all items."""
    n_items = norms.shape[0]
    initialize = list(initialize) if isinstance(initialize, (list, tuple, np.ndarray)) else [initialize]
    for i in initialize:
        if not isinstance(i, numbers.Integral) or not 0 <= i < n_items:
            raise ValueError(f"initialize must be index(es) in [0, {n_items}), got {i!r}")
    selected = np.empty(n, dtype=np.int64)
    hausdorff = np.full(n_items, np.inf)
    dist_at_select = np.full(n, np.inf)
    chosen = np.zeros(n_items, dtype=bool)
    for step in range(n):
        if step < len(initialize):
            last = int(initialize[step])
        else:
            scores = np.where(chosen, -np.inf, hausdorff)
            last = int(np.argmax(scores))
        dist_at_select[step] = hausdorff[last]
        selected[step] = last
        chosen[last] = True
        new = norms + norms[last] - 2.0 * gram_row(last)
        np.minimum(hausdorff, new, out=hausdorff)
    return selected, hausdorff, dist_at_select


# fastmath without "ninf"/"nnan": the kernel starts distances at +inf and compares against them
@numba.njit(cache=True, parallel=True, fastmath={"nsz", "arcp", "contract", "afn", "reassoc"})
def _fps_kernel(X, norms, n_select, first):
    """FPS on the rows of X with triangle-inequality pruning.

    A point whose nearest selected centre ``c`` is at distance ``r`` cannot get closer to a new
    centre ``s`` when ``|c - s| >= 2 r``; its row of ``X`` is then not read at all. Exact up to
    round-off (a safety margin keeps pruning conservative).
    """
    N, d = X.shape
    selected = np.empty(n_select, np.int64)
    hd = np.full(N, np.inf)
    assign = np.full(N, -1, np.int64)
    chosen = np.zeros(N, np.bool_)
    cdist = np.empty(n_select)
    margin = 1e-7 * np.sqrt(norms.max())
    s = first
    for step in range(n_select):
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
    return selected


def fps_indices(X, n, initialize=0):
    """Indices of ``n`` rows of ``X`` picked by farthest point sampling (Euclidean).

    Same picks as ``skmatter.sample_selection.FPS(n_to_select=n, initialize=initialize)`` (up to
    exact floating-point ties). A parallel Numba kernel with triangle-inequality pruning: at most
    O(N d) per pick, and much less once the selected set covers the data (rows that cannot move
    closer to the new pick are skipped). Memory O(N) beyond ``X``. Accepts numpy or cupy ``X``; returns a
    numpy array of indices.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 0.0], [0.0, 3.0]])
    >>> fps_indices(X, 3).tolist()
    [0, 2, 3]
    """
    if type(X).__module__.startswith("cupy"):
        return _fps_cupy(X, n, initialize)
    X = np.ascontiguousarray(X, dtype=np.float64)
    n = _check_n(n, X.shape[0], "samples")
    if not isinstance(initialize, numbers.Integral) or not 0 <= initialize < X.shape[0]:
        raise ValueError(f"initialize must be an index in [0, {X.shape[0]}), got {initialize!r}")
    norms = np.einsum("ij,ij->i", X, X)
    return _fps_kernel(X, norms, n, int(initialize))


def _fps_cupy(X, n, initialize):
    import cupy as cp

    X = cp.asarray(X, dtype=cp.float64)
    n = _check_n(n, X.shape[0], "samples")
    norms = cp.einsum("ij,ij->i", X, X)
    hausdorff = cp.full(X.shape[0], cp.inf)
    selected = np.empty(n, dtype=np.int64)
    last = int(initialize)
    for step in range(n):
        selected[step] = last
        cp.minimum(hausdorff, norms + norms[last] - 2.0 * (X @ X[last]), out=hausdorff)
        hausdorff[cp.asarray(selected[: step + 1])] = -cp.inf
        last = int(cp.argmax(hausdorff))
    return selected


def kernel_fps_indices(K, n, initialize=0):
    """FPS with the distances a kernel induces: ``d² = K_ii + K_jj - 2 K_ij``.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [0.1], [4.0]])
    >>> kernel_fps_indices(X @ X.T, 2).tolist()
    [0, 2]
    """
    K = np.asarray(K, dtype=np.float64)
    n = _check_n(n, K.shape[0], "samples")
    return _fps_from_gram_rows(np.ascontiguousarray(np.diag(K)), lambda i: K[i], n, initialize)[0]


# ----------------------------------------------------------------------------------------------
# estimators
# ----------------------------------------------------------------------------------------------


class _Selector(BaseEstimator):
    def _setup(self, X, y=None, need_y=False):
        if self.axis not in ("samples", "features"):
            raise ValueError(f"axis must be 'samples' or 'features', got {self.axis!r}")
        X = check_array(X, dtype=np.float64, ensure_min_samples=2, ensure_min_features=2)
        if need_y and y is None:
            raise ValueError(f"{type(self).__name__} needs targets y")
        if y is not None:
            y = np.asarray(y, dtype=np.float64)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"y has {y.shape[0]} rows, X has {X.shape[0]}")
            y = y.reshape(X.shape[0], -1)
        self.n_samples_in_, self.n_features_in_ = X.shape
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
        """The selected rows (``axis="samples"``) or columns (``axis="features"``) of ``X``."""
        check_is_fitted(self, ["selected_idx_"])
        if self.axis == "samples":
            return X[self.selected_idx_]
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the selector was fitted with {self.n_features_in_}")
        return X[:, self.selected_idx_]

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)


class FPS(_Selector):
    """Farthest point sampling of samples or features (scikit-matter's FPS).

    Parameters
    ----------
    n_to_select : int or float in (0, 1]
    initialize : int or list of int, default=0
        The first selected index (or indices).
    axis : {"samples", "features"}, default="samples"

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

    def __init__(self, n_to_select=None, initialize=0, axis="samples"):
        self.n_to_select = n_to_select
        self.initialize = initialize
        self.axis = axis

    def fit(self, X, y=None):
        """Select; returns self."""
        X, _, ax, n = self._setup(X)
        P = X if ax == 0 else np.ascontiguousarray(X.T)
        norms = (P ** 2).sum(axis=1)
        sel, haus, at = _fps_from_gram_rows(norms, lambda i: P[i] @ P.T, n, self.initialize)
        self.hausdorff_ = haus
        self.hausdorff_at_select_ = at
        return self._finish(sel, P.shape[0])


def _pcovr_covariance(mixing, X, Y, rcond=_TOL):
    """Feature-space PCovR matrix ``a XᵀX + (1-a) C^{-1/2} XᵀY YᵀX C^{-1/2}`` (scikit-matter)."""
    XtX = X.T @ X
    C = np.zeros_like(XtX)
    if mixing < 1:
        lam, Q = np.linalg.eigh(XtX)
        keep = lam > rcond
        Q, lam = Q[:, keep], lam[keep]
        iC = (Q / np.sqrt(lam)) @ Q.T
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
    n_to_select : int or float
    mixing : float in [0, 1), default=0.5
    initialize : int, default=0
    axis : {"samples", "features"}, default="samples"

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 6)); y = X[:, 0] + 0.1 * rng.normal(size=60)
    >>> PCovFPS(n_to_select=5, mixing=0.5).fit(X, y).selected_idx_.shape
    (5,)
    """

    def __init__(self, n_to_select=None, mixing=0.5, initialize=0, axis="samples"):
        self.n_to_select = n_to_select
        self.mixing = mixing
        self.initialize = initialize
        self.axis = axis

    def fit(self, X, y):
        """Select; returns self."""
        if self.mixing == 1.0:
            raise ValueError("mixing=1 is plain FPS: use FPS")
        X, y, ax, n = self._setup(X, y, need_y=True)
        D = _pcovr_kernel(self.mixing, X, y) if ax == 0 else _pcovr_covariance(self.mixing, X, y)
        norms = np.ascontiguousarray(np.diag(D))
        sel, haus, at = _fps_from_gram_rows(norms, lambda i: D[i], n, self.initialize)
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

    Parameters
    ----------
    n_to_select : int or float
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
        """Select; returns self."""
        X, y, ax, n = self._setup(X, y, need_y=isinstance(self, PCovCUR))
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
    n_to_select : int or float
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
