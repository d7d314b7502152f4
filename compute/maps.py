"""One call from features to map coordinates: ``project`` and the live-mixing ``reproject``.

The app (and scripts) pick a method by name; this module scales the features and the target,
chooses the full or Nyström kernel model by size, fits on the rows that have a target (every row
is still placed on the map) and keeps what a mixing change needs, so moving the slider costs a
re-fit of the mixing-dependent part only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .decomposition import PCA, KernelPCA, KernelPCovR, PCovR

METHODS = {
    "pca": "PCA",
    "kpca": "Kernel PCA",
    "pcovr": "PCovR",
    "kpcovr": "Kernel PCovR",
}
SUPERVISED = frozenset({"pcovr", "kpcovr"})
KERNEL_METHODS = frozenset({"kpca", "kpcovr"})
#: above this many fitted rows kernel methods use Nyström features from FPS-picked active rows
NYSTROM_ABOVE = 2_000
N_ACTIVE = 1_000


def auto_n_active(n_fitted: int) -> int | None:
    """The Nyström active-set size kernel maps use by default for ``n_fitted`` rows: None (the
    full kernel) up to :data:`NYSTROM_ABOVE` rows, else :data:`N_ACTIVE`."""
    return N_ACTIVE if n_fitted > NYSTROM_ABOVE else None


@dataclass
class MapResult:
    """Coordinates of every row and what is needed to move the mixing.

    ``fitted_rows`` are the rows the estimator was fitted on (those with a finite target for the
    supervised methods); the others are placed by ``transform``.
    """

    method: str
    coordinates: np.ndarray
    estimator: object
    fitted_rows: np.ndarray
    scale: float
    feature_mean: np.ndarray
    target_mean: float | np.ndarray = 0.0  # per component for a multi-component target
    target_scale: float = 1.0
    info: dict = field(default_factory=dict)

    @property
    def axis_titles(self) -> list[str]:
        prefix = {"pca": "PC", "kpca": "kPC", "pcovr": "PCov", "kpcovr": "kPCov"}[self.method]
        return [f"{prefix}{k + 1}" for k in range(self.coordinates.shape[1])]


def _scaled_features(X):
    """Centre and scale to unit total variance, so kernels and mixing behave the same on any data."""
    mean = X.mean(axis=0)
    scale = float(np.sqrt(((X - mean) ** 2).sum(axis=1).mean())) or 1.0
    return (X - mean) / scale, mean, scale


def project(
    X,
    method: str = "pca",
    *,
    y=None,
    mixing: float = 0.5,
    n_components: int = 2,
    kernel: str = "rbf",
    gamma: float | None = None,
    regularization: float = 1e-6,
    n_active: int | str | None = "auto",
    backend: str = "auto",
) -> MapResult:
    """Map coordinates of every row of ``X`` with PCA, kernel PCA, PCovR or kernel PCovR.

    Parameters
    ----------
    X : (n_rows, n_features) array
    method : {"pca", "kpca", "pcovr", "kpcovr"}
    y : (n_rows,) array, or (n_rows, k) for a vector or tensor target's components, needed by
        "pcovr" and "kpcovr"; rows where it is NaN are placed on the map by the fitted model but
        not used to fit it.
    mixing : float in [0, 1]
        Weight of the feature-space variance against the regression (1 is (K)PCA).
    kernel, gamma :
        Kernel of the kernel methods; features are scaled to unit total variance, so the rbf
        default ``gamma=1`` is sensible for any data.
    n_active : int, "auto" or None
        Nyström active rows for kernel methods ("auto": 1,000 above 2,000 fitted rows).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 6)); y = X[:, 0] - X[:, 1] ** 2
    >>> result = project(X, "kpcovr", y=y, mixing=0.5)
    >>> result.coordinates.shape, result.axis_titles
    ((300, 2), ['kPCov1', 'kPCov2'])
    >>> reproject(result, X, 0.9).coordinates.shape
    (300, 2)
    """
    if method not in METHODS:
        raise ValueError(f"method={method!r}: expected one of {', '.join(METHODS)}")
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2:
        raise ValueError(f"a map needs at least 2 rows of features, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("the features contain NaN or infinite values")
    n_components = int(n_components)
    if not 1 <= n_components <= min(X.shape):
        raise ValueError(f"n_components={n_components}: must be between 1 and {min(X.shape)}")
    Xs, mean, scale = _scaled_features(X)

    rows = np.arange(X.shape[0])
    target_mean, target_scale = 0.0, 1.0
    ys = None
    if method in SUPERVISED:
        if y is None:
            raise ValueError(f"{METHODS[method]} needs a target property")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim > 2 or (y.ndim == 2 and y.shape[0] != X.shape[0]):
            raise ValueError(f"the target must have one value or one row of components per row of X, got shape {y.shape}")
        y = y.reshape(X.shape[0], -1) if y.ndim == 2 else y.reshape(-1)
        finite = np.isfinite(y) if y.ndim == 1 else np.isfinite(y).all(axis=1)
        rows = np.flatnonzero(finite)
        if len(rows) < max(3, n_components + 1):
            raise ValueError(f"the target property has only {len(rows)} finite values: not enough to fit {METHODS[method]}")
        # a vector target (a dipole's components) is centred per component but scaled by one
        # spread: its components share a unit, and a rotation must not change their weights
        target_mean = y[rows].mean(axis=0)
        target_scale = float((y[rows] - target_mean).std()) or 1.0
        ys = (y[rows] - target_mean) / target_scale

    info = {}
    if method in KERNEL_METHODS:
        if n_active == "auto":
            n_active = auto_n_active(len(rows))
        if n_active is not None:
            n_active = min(int(n_active), len(rows))
            info["n_active"] = n_active
        gamma = 1.0 if gamma is None else gamma
        params = dict(n_components=n_components, kernel=kernel, gamma=gamma, n_active=n_active, backend=backend)
        if method == "kpca":
            estimator = KernelPCA(**params).fit(Xs[rows])
        else:
            estimator = KernelPCovR(mixing=mixing, regularization=regularization, **params).fit(Xs[rows], ys)
    elif method == "pca":
        estimator = PCA(n_components=n_components, backend=backend).fit(Xs)
    else:
        estimator = PCovR(mixing=mixing, n_components=n_components, regularization=regularization, backend=backend).fit(Xs[rows], ys)

    result = MapResult(
        method=method, coordinates=np.empty((X.shape[0], n_components)), estimator=estimator,
        fitted_rows=rows, scale=scale, feature_mean=mean, target_mean=target_mean,
        target_scale=target_scale, info=info,
    )
    _place_rows(result, X)
    return result


def reproject(result: MapResult, X, mixing: float) -> MapResult:
    """The same map at another mixing, re-using everything that does not depend on it.

    Only PCovR and kernel PCovR have a mixing; other methods are returned unchanged.
    """
    if result.method not in SUPERVISED:
        return result
    result.estimator.refit(mixing)
    _place_rows(result, X)
    return result


def _place_rows(result: MapResult, X) -> None:
    """Coordinates of every row after a (re-)fit.

    ``X`` holds the raw features (possibly memory-mapped): rows are read and scaled only where a
    transform needs them, so a kernel map's mixing change never reads its training rows again.
    """
    estimator = result.estimator
    n = X.shape[0]
    fitted = np.zeros(n, dtype=bool)
    fitted[result.fitted_rows] = True

    coordinates = np.empty((n, estimator.n_components))
    if hasattr(estimator, "embedding_"):
        # kernel models keep the embedding of their training rows: no kernel recomputation
        coordinates[fitted] = np.asarray(estimator.embedding_)
        if (~fitted).any():
            scaled = (np.asarray(X[~fitted], dtype=np.float64) - result.feature_mean) / result.scale
            coordinates[~fitted] = estimator.transform(scaled)
    else:
        # linear maps: T = ((X - m) / s - mean_) @ pxt_ = X @ (pxt_ / s) - offset, one pass over
        # the raw (possibly memory-mapped) rows instead of scaled copies
        projector = np.asarray(estimator.pxt_) / result.scale
        offset = (result.feature_mean / result.scale + np.asarray(estimator.mean_)) @ np.asarray(estimator.pxt_)
        coordinates[:] = np.asarray(X) @ projector - offset
    result.coordinates = coordinates
