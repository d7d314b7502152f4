"""Learning curves and out-of-fold predictions for the models (or any scikit-learn regressor).

Both helpers leave out the samples whose target is NaN before anything else (so a kernel over
rows without a target is never built), split the rest in shuffled (or grouped) folds and fit a
fresh clone of the model per fold, whose regularisation is chosen by its own cross-validation
on its training rows only. A kernel model on features gets its full kernel computed once, then
is fitted as ``kernel="precomputed"`` on slices of it.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GroupKFold, KFold

from .. import _dispatch
from .._dispatch import is_cupy_array, to_numpy
from .._validation import check_X, check_y, to_device
from ._base import check_kernel, kernel_matrix
from ._kernel_ridge import KernelRidgeModel
from ._make import MODELS, make_model


def _resolve_model(model, model_params):
    if isinstance(model, str):
        return make_model(model, **model_params)
    if isinstance(model, BaseEstimator):
        return clone(model).set_params(**model_params) if model_params else clone(model)
    raise ValueError(f"model must be one of {', '.join(map(repr, MODELS))} or an estimator, got {model!r}")


def _resolve_backend(estimator, X):
    """The backend of the whole computation, resolved once: the estimator's ``backend`` for the
    models of this package (the clone is set to the resolved name, so no fold resolves it
    again), else the device of ``X`` (a foreign estimator gets its data where it was given)."""
    params = estimator.get_params()
    if "backend" not in params:
        return _dispatch.resolve("cupy" if is_cupy_array(X) else "numba"), estimator
    backend = _dispatch.resolve(params["backend"], X)
    return backend, estimator.set_params(backend=backend.name)


class _Data:
    """Rows of X (on the backend's device) and their targets, for a set of samples; a
    precomputed kernel is sliced on both axes.

    A kernel model on features gets its full kernel computed once, then is fitted as
    ``kernel="precomputed"`` on slices (kernels are pairwise, so nothing leaks between folds).
    """

    def __init__(self, X, y, estimator, backend):
        self.estimator = estimator
        kernel = getattr(estimator, "kernel", None)
        self.precomputed = kernel == "precomputed"
        X = check_X(X, backend=backend)
        if isinstance(estimator, KernelRidgeModel) and not self.precomputed:
            X = kernel_matrix(X, None, check_kernel(kernel), estimator.get_params())
            self.estimator = clone(estimator).set_params(kernel="precomputed")
            self.precomputed = True
        elif self.precomputed and X.shape[0] != X.shape[1]:
            raise ValueError(f"kernel='precomputed': X must be the square kernel of all samples, got {X.shape}")
        self.X = X
        self.y = to_device(y, backend)
        self.backend = backend
        self.xp = backend.xp
        self.n_samples = X.shape[0]

    def rows(self, idx, cols=None):
        xp = self.xp
        idx = xp.asarray(idx)
        if not self.precomputed:
            return self.X[idx]
        cols = idx if cols is None else xp.asarray(cols)
        return self.X[idx][:, cols]

    def fit_predict(self, train, tests):
        model = clone(self.estimator).fit(self.rows(train), self.y[self.xp.asarray(train)])
        return model, [model.predict(self.rows(t, train)) for t in tests]


def _check_splits(n_splits, n_valid):
    if not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"n_splits must be an integer >= 2, got {n_splits!r}")
    if n_splits > n_valid:
        raise ValueError(f"n_splits={n_splits} is more than the {n_valid} samples with a finite target")


def _rmse(pred, ref):
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
    if not hasattr(X, "shape") or not hasattr(X, "ndim"):
        X = np.asarray(X)
    if X.ndim != 2:
        check_X(X)  # its message
    backend, estimator = _resolve_backend(estimator, X)
    n_rows = X.shape[0]
    y = to_numpy(check_y(y, n_rows, ensure_1d=True, allow_nan=True))
    valid = np.flatnonzero(np.isfinite(y))
    if valid.size < 3:
        raise ValueError(f"y has only {valid.size} finite values: {purpose} at least 3")
    _check_splits(n_splits, valid.size)
    if valid.size < n_rows:
        rows = _dispatch.get_namespace(X).asarray(valid)
        precomputed = getattr(estimator, "kernel", None) == "precomputed"
        X = X[rows][:, rows] if precomputed else X[rows]
        y = y[valid]
    data = _Data(X, y, estimator, backend)
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
        The models of this package run on their ``backend`` (a model parameter, e.g.
        ``backend="cupy"``; default "auto"), resolved once for all folds; another estimator gets
        the data on the device of ``X``.
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
    y = data.y
    xp = data.xp
    rng = np.random.default_rng(random_state)
    folds = folds_of(random_state)
    n_pool_min = min(len(tr) for tr, _ in folds)
    sizes = _check_train_sizes(train_sizes, n_pool_min)
    if selection == "fps":
        from ..selection import fps_indices

    records = {s: [] for s in sizes}
    n_fits, done = len(folds) * len(sizes), 0
    for train_pos, test_pos in folds:
        pool, test = valid[train_pos], valid[test_pos]
        pool = pool[rng.permutation(len(pool))]
        if selection == "fps":
            # a set as large as the pool is the pool: FPS only has to order the smaller sizes
            smaller = sizes[sizes < len(pool)]
            n_fps = int(smaller[-1]) if smaller.size else 1
            pool_rows = data.rows(pool, pool)
            picked = np.asarray(fps_indices(pool_rows, n_fps, initialize=0, backend=data.backend), dtype=np.int64)
            rest = np.setdiff1d(np.arange(len(pool)), picked, assume_unique=True)
            pool = pool[np.concatenate([picked, rest])]
        y_test = y[xp.asarray(test)]
        for size in sizes:
            train = pool[:size]
            fitted, (pred_train, pred_test) = data.fit_predict(train, [train, test])
            err = to_numpy(pred_test) - to_numpy(y_test)
            records[size].append(
                (
                    _rmse(pred_train, y[xp.asarray(train)]),
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
    pred = np.full((len(X),), np.nan, dtype=np.float64)
    for train, test in folds_of(random_state):
        _, (p,) = data.fit_predict(train, [test])
        pred[valid[test]] = to_numpy(p)
    # in the array type of X, wherever the models ran
    return _dispatch.cupy_module().asarray(pred) if is_cupy_array(X) else pred
