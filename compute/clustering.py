"""One front over scikit-learn's clusterers, plus k-means in ``xp`` array code for the GPU.

:func:`cluster` runs k-means, DBSCAN, HDBSCAN, a Gaussian mixture or agglomerative clustering on
map coordinates or on features and returns a :class:`ClusterResult` whose labels mean the same
thing whatever the method: ``0 .. n_clusters - 1`` numbered by decreasing cluster size (ties by
first appearance), ``-1`` for noise. The numbering is therefore stable between runs and between
backends, which keeps a map's colours stable in the app.

k-means follows ``backend`` (:mod:`compute._dispatch`): ``"numba"`` (the CPU's fast path, and
``"auto"`` without a GPU) runs scikit-learn's compiled implementation; ``"cupy"`` (and ``"auto"``
with CuPy input or a usable GPU) a small Lloyd's iteration with greedy k-means++ seeding written
once with ``xp``; ``"numpy"`` runs that same array code with NumPy (the readable reference).
The other methods run scikit-learn on the host whatever the backend.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _dispatch
from ._dispatch import get_namespace, is_cupy_array, to_numpy
from ._validation import check_X

__all__ = ["ClusterResult", "cluster", "kmeans", "METHODS"]

METHODS = ("kmeans", "dbscan", "hdbscan", "gmm", "agglomerative")


@dataclass
class ClusterResult:
    """What :func:`cluster` returns.

    Attributes
    ----------
    labels : int array (n_samples,)
        Cluster of each sample, ``0 .. n_clusters - 1`` by decreasing size; ``-1`` is noise
        (DBSCAN, HDBSCAN). On the device of the input (NumPy or CuPy).
    probabilities : float array (n_samples,) or None
        Strength of each sample's membership of its cluster where the method has one: the
        posterior probability of its component (gmm), the membership strength (hdbscan, 0 for
        noise). None for the other methods.
    n_clusters : int
        Number of clusters, noise excluded.
    sizes : numpy int array (n_clusters,)
        Number of samples in each cluster (non-increasing).
    centers : array (n_clusters, n_features) or None
        Cluster centres (kmeans) or component means (gmm), in the new numbering.
    inertia : float or None
        k-means: sum of squared distances of the samples to their centre.
    """

    labels: object
    probabilities: object | None
    n_clusters: int
    sizes: np.ndarray
    centers: object | None = None
    inertia: float | None = None


# --------------------------------------------------------------------------------------------
# parameters of each method: defaults, and the names the front accepts
# --------------------------------------------------------------------------------------------


def _estimator(method, random_state, params):
    from sklearn import cluster as skc
    from sklearn import mixture

    params = dict(params)
    if method == "kmeans":
        return skc.KMeans(random_state=random_state, **params)
    if method == "dbscan":
        return skc.DBSCAN(**params)
    if method == "hdbscan":
        params.setdefault("copy", True)
        return skc.HDBSCAN(**params)
    if method == "gmm":
        if "n_clusters" in params:
            if "n_components" in params:
                raise ValueError("gmm: give n_clusters or n_components, not both")
            params["n_components"] = params.pop("n_clusters")
        return mixture.GaussianMixture(random_state=random_state, **params)
    if method == "agglomerative":
        return skc.AgglomerativeClustering(**params)
    raise AssertionError(method)


def _valid_params(method):
    from sklearn import cluster as skc
    from sklearn import mixture

    cls = {
        "kmeans": skc.KMeans,
        "dbscan": skc.DBSCAN,
        "hdbscan": skc.HDBSCAN,
        "gmm": mixture.GaussianMixture,
        "agglomerative": skc.AgglomerativeClustering,
    }[method]
    names = set(cls().get_params()) - {"random_state"}
    if method == "gmm":
        names.add("n_clusters")
    return names


def _check_params(method, params):
    valid = _valid_params(method)
    bad = sorted(set(params) - valid)
    if bad:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, bad))} for method {method!r}: it takes "
            + ", ".join(sorted(valid))
        )


# --------------------------------------------------------------------------------------------
# the front
# --------------------------------------------------------------------------------------------


def dbscan_eps(X, min_samples: int = 5, quantile: float = 0.9) -> float:
    """A DBSCAN radius for ``X`` when the user gives none: the ``quantile`` of each point's
    distance to its ``min_samples``-th neighbour (near the knee of the usual k-distance plot).

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> 0 < dbscan_eps(X, min_samples=5) < 1
    True
    """
    from sklearn.neighbors import NearestNeighbors

    X = to_numpy(X)
    k = int(min(max(min_samples, 1), len(X) - 1))
    if k < 1:
        return 1.0
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(X).kneighbors(X)
    eps = float(np.quantile(distances[:, k], quantile))
    return eps if eps > 0 else 1.0


def cluster(X, method="kmeans", random_state=0, backend="auto", **params) -> ClusterResult:
    """Cluster the rows of ``X`` (map coordinates or features).

    Parameters
    ----------
    X : array (n_samples, n_features)
        NumPy or CuPy. Methods other than k-means copy CuPy input to the host and return labels
        on the device again.
    method : {"kmeans", "dbscan", "hdbscan", "gmm", "agglomerative"}
    random_state : int, default=0
        Seed of k-means and gmm (the other methods are deterministic).
    backend : {"auto", "numpy", "numba", "cupy"}, default="auto"
        Where k-means runs (:func:`compute._dispatch.resolve`): "numba" is scikit-learn's
        compiled k-means on the CPU; "cupy" the xp k-means on the GPU (NumPy input gives NumPy
        labels back); "numpy" the xp k-means with NumPy; "auto" the GPU for CuPy input or when
        one is usable, else "numba". Other methods run scikit-learn on the host.
    **params
        Parameters of the scikit-learn estimator: ``n_clusters`` (kmeans, agglomerative, and gmm
        where it is ``n_components``), ``eps`` and ``min_samples`` (dbscan),
        ``min_cluster_size`` (hdbscan), ``covariance_type`` (gmm), ``linkage`` (agglomerative),
        ``n_init``, ``max_iter``, ``tol`` ... Unknown names raise ValueError.

    Returns
    -------
    ClusterResult

    Examples
    --------
    >>> import numpy as np
    >>> from compute.clustering import cluster
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(3, 0.1, (20, 2))])
    >>> result = cluster(X, "kmeans", n_clusters=2)
    >>> result.n_clusters, result.sizes.tolist(), result.labels[:3].tolist()
    (2, [30, 20], [0, 0, 0])
    >>> cluster(X, "dbscan", eps=0.5, min_samples=5).sizes.tolist()
    [30, 20]
    """
    if method not in METHODS:
        raise ValueError(f"unknown clustering method {method!r}: expected one of " + ", ".join(map(repr, METHODS)))
    if random_state is not None and not isinstance(random_state, numbers.Integral):
        raise ValueError(f"random_state must be an integer or None, got {random_state!r}")
    be = _dispatch.resolve(backend, X)
    _check_params(method, params)
    on_gpu = is_cupy_array(X)
    X = check_X(X, hint=": drop those samples (or fill them) before clustering")

    if method == "kmeans" and be.name != "numba":
        unknown = set(params) - {"n_clusters", "n_init", "max_iter", "tol", "init"}
        if unknown:
            raise ValueError(
                f"parameter(s) {', '.join(map(repr, sorted(unknown)))} are not supported by the xp k-means "
                "(backend 'numpy'/'cupy'): use n_clusters, n_init, max_iter, tol"
            )
        if params.get("init", "k-means++") != "k-means++":
            raise ValueError("the xp k-means only supports init='k-means++'")
        params = {k: v for k, v in params.items() if k != "init"}
        data = be.asarray(X) if be.on_gpu else be.to_host(X)
        labels, centers, inertia = kmeans(data, random_state=random_state, **params)
        if not on_gpu:
            labels, centers = to_numpy(labels), to_numpy(centers)
        elif not be.on_gpu:  # CuPy in, computed on the host: CuPy out
            labels, centers = get_namespace(X).asarray(labels), get_namespace(X).asarray(centers)
        return _result(labels, None, centers, inertia)

    X_host = to_numpy(X) if on_gpu else X
    est = _estimator(method, random_state, params)
    est.fit(X_host)
    probabilities = centers = inertia = None
    if method == "gmm":
        labels = est.predict(X_host)
        probabilities = est.predict_proba(X_host)[np.arange(len(labels)), labels]
        centers = est.means_
    else:
        labels = est.labels_
        if method == "hdbscan":
            probabilities = np.asarray(est.probabilities_, dtype=float)
        elif method == "kmeans":
            centers, inertia = est.cluster_centers_, float(est.inertia_)
    labels = np.where(np.asarray(labels) < 0, -1, labels)  # HDBSCAN's -2/-3 are noise too
    result = _result(labels, probabilities, centers, inertia)
    if on_gpu:
        xp = get_namespace(X)
        result.labels = xp.asarray(result.labels)
        if result.probabilities is not None:
            result.probabilities = xp.asarray(result.probabilities)
        if result.centers is not None:
            result.centers = xp.asarray(result.centers)
    return result


def _result(labels, probabilities, centers, inertia):
    """Renumber clusters by decreasing size (ties: first appearance) and build the result."""
    xp = get_namespace(labels)
    host = np.asarray(to_numpy(labels), dtype=np.int64)
    present = np.unique(host[host >= 0])
    if present.size:
        sizes = np.bincount(host[host >= 0])[present]
        first = np.array([np.argmax(host == k) for k in present])
        order = np.lexsort((first, -sizes))  # largest first, then first appearance
        new_of_old = np.full(int(present.max()) + 1, -1, dtype=np.int64)
        new_of_old[present[order]] = np.arange(present.size)
        new = np.where(host >= 0, new_of_old[np.maximum(host, 0)], -1)
        sizes = sizes[order]
        if centers is not None:
            centers = centers[xp.asarray(present[order])] if is_cupy_array(centers) else np.asarray(centers)[present[order]]
    else:
        new, sizes = host, np.zeros(0, dtype=np.int64)
    labels = xp.asarray(new) if xp is not np else new
    return ClusterResult(
        labels=labels,
        probabilities=probabilities,
        n_clusters=int(present.size),
        sizes=sizes.astype(np.int64),
        centers=centers,
        inertia=inertia,
    )


# --------------------------------------------------------------------------------------------
# k-means in xp (NumPy or CuPy)
# --------------------------------------------------------------------------------------------


def _sq_distances(xp, X, x_sq, C):
    D = X @ C.T
    D *= -2.0
    D += x_sq[:, None]
    D += xp.sum(C * C, axis=1)[None, :]
    return xp.maximum(D, 0.0, out=D)


def _kmeans_plusplus(xp, X, x_sq, k, rng):
    """Greedy k-means++ (Arthur & Vassilvitskii; scikit-learn's variant with 2 + log k trials).

    Random numbers come from a NumPy generator on the host, so the seeding is the same on every
    device for one ``random_state``.
    """
    n = X.shape[0]
    n_trials = 2 + int(math.log(k))
    centers = xp.empty((k, X.shape[1]), dtype=X.dtype)
    first = int(rng.integers(n))
    centers[0] = X[first]
    closest = _sq_distances(xp, X, x_sq, X[first : first + 1])[:, 0]
    potential = float(xp.sum(closest))
    for c in range(1, k):
        if potential <= 0:  # fewer distinct points than clusters: any point will do
            candidates = xp.asarray(rng.integers(n, size=n_trials))
        else:
            cumulative = xp.cumsum(closest)
            draws = xp.asarray(rng.uniform(size=n_trials)) * cumulative[-1]
            candidates = xp.minimum(xp.searchsorted(cumulative, draws), n - 1)
        dist = _sq_distances(xp, X, x_sq, X[candidates])  # (n, n_trials)
        dist = xp.minimum(dist, closest[:, None])
        pots = xp.sum(dist, axis=0)
        best = int(xp.argmin(pots))
        centers[c] = X[int(candidates[best])]
        closest = dist[:, best]
        potential = float(pots[best])
    return centers


def _lloyd(xp, X, x_sq, centers, max_iter, tol):
    n, k = X.shape[0], centers.shape[0]
    labels = None
    for _ in range(max_iter):
        D = _sq_distances(xp, X, x_sq, centers)
        new_labels = xp.argmin(D, axis=1)
        onehot = (new_labels[:, None] == xp.arange(k)[None, :]).astype(X.dtype)
        counts = xp.sum(onehot, axis=0)
        sums = onehot.T @ X
        empty = counts == 0
        if bool(xp.any(empty)):
            # re-seed empty clusters with the points farthest from their centre (as scikit-learn)
            far = xp.argsort(-D[xp.arange(n), new_labels])[: int(xp.sum(empty))]
            sums[empty] = X[far]
            counts[empty] = 1.0
        new_centers = sums / counts[:, None]
        shift = float(xp.sum((new_centers - centers) ** 2))
        centers = new_centers
        if labels is not None and bool(xp.all(new_labels == labels)):
            labels = new_labels
            break
        labels = new_labels
        if shift <= tol:
            break
    D = _sq_distances(xp, X, x_sq, centers)
    labels = xp.argmin(D, axis=1)
    inertia = float(xp.sum(D[xp.arange(n), labels]))
    return labels, centers, inertia


def kmeans(X, n_clusters=8, n_init="auto", max_iter=300, tol=1e-4, random_state=0):
    """k-means (Lloyd's iteration, greedy k-means++ seeding) in NumPy or CuPy array code.

    ``tol`` is relative to the mean variance of the features, as in scikit-learn;
    ``n_init="auto"`` is one run (scikit-learn's choice with k-means++). Returns
    ``(labels, centers, inertia)`` in the array module of ``X``, labels not renumbered.

    Examples
    --------
    >>> import numpy as np
    >>> from compute.clustering import kmeans
    >>> X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> labels, centers, inertia = kmeans(X, n_clusters=2)
    >>> bool(labels[0] == labels[1] != labels[2] == labels[3]), round(inertia, 3)
    (True, 0.01)
    """
    X = check_X(X)
    xp = get_namespace(X)
    n = X.shape[0]
    if not isinstance(n_clusters, numbers.Integral) or not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be an integer between 1 and the number of samples ({n}), got {n_clusters!r}")
    if n_init == "auto":
        n_init = 1
    if not isinstance(n_init, numbers.Integral) or n_init < 1:
        raise ValueError(f"n_init must be a positive integer or 'auto', got {n_init!r}")
    if not isinstance(max_iter, numbers.Integral) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    if not isinstance(tol, numbers.Real) or tol < 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    mean = xp.mean(X, axis=0)
    X = X - mean  # centring improves the accuracy of the distance trick
    x_sq = xp.sum(X * X, axis=1)
    abs_tol = float(xp.mean(xp.var(X, axis=0))) * tol
    rng = np.random.default_rng(random_state)
    best = None
    for _ in range(int(n_init)):
        centers = _kmeans_plusplus(xp, X, x_sq, int(n_clusters), rng)
        labels, centers, inertia = _lloyd(xp, X, x_sq, centers, int(max_iter), abs_tol)
        if best is None or inertia < best[2]:
            best = (labels, centers, inertia)
    labels, centers, inertia = best
    return labels, centers + mean, inertia
