"""How much one descriptor says about another: global feature reconstruction error and distortion.

GFRE(X → Y) is the root mean squared error, on held-out samples, of the best linear map from the
features X to the features Y (both centred and scaled to unit total variance on the training
half): 0 when Y is a linear function of X, ~1 when X says nothing of Y. GFRD(X → Y) measures how
much that linear map deforms X: the distance between it and the best *orthogonal* map (a rotation
of X padded to the larger width). Goscinski et al., Mach. Learn.: Sci. Technol. 2 (2021) 025028.

The defaults are those of scikit-matter 0.4's ``skmatter.metrics`` (the tests check equality):
a shuffled half/half split (seed 0x5F3759DF); ridge regression with a singular-value cutoff chosen
by two-fold cross-validation among 20 relative cutoffs from 1e-9 to 0.9, scored by the root mean
squared error averaged over the targets.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes

__all__ = ["global_reconstruction_error", "global_reconstruction_distortion", "reconstruction_measures"]

SEED = 0x5F3759DF
ALPHAS = np.geomspace(1e-9, 0.9, 20)


def _split(n: int, train_idx, test_idx):
    from sklearn.model_selection import train_test_split

    if train_idx is None and test_idx is None:
        return train_test_split(np.arange(n), test_size=0.5, train_size=0.5, random_state=SEED, shuffle=True)
    if train_idx is None:
        return np.setdiff1d(np.arange(n), test_idx), np.asarray(test_idx)
    if test_idx is None:
        return np.asarray(train_idx), np.setdiff1d(np.arange(n), train_idx)
    return np.asarray(train_idx), np.asarray(test_idx)


def _scaled(A: np.ndarray, train, test):
    """Train and test rows, centred on the training mean and divided by its total standard deviation."""
    mean = A[train].mean(axis=0)
    total = np.sqrt(((A[train] - mean) ** 2).mean(axis=0).sum())
    if total < 1e-12:
        raise ValueError("cannot scale features with zero variance")
    return (A[train] - mean) / total, (A[test] - mean) / total


def _score(y, predicted) -> float:
    """Minus the root mean squared error, averaged over the targets (scikit-learn's scorer)."""
    return -float(np.mean(np.sqrt(np.mean((y - predicted) ** 2, axis=0))))


def _cutoff_ridge(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares by truncated SVD, the cutoff chosen by two-fold cross-validation."""
    from sklearn.model_selection import KFold

    first, second = next(KFold(n_splits=2, shuffle=True, random_state=SEED).split(X))
    folds = []
    rcond = max(X.shape) * np.spacing(X.dtype.type(1))
    for fit, other in ((first, second), (second, first)):
        u, s, vt = np.linalg.svd(X[fit], full_matrices=False)
        kept = int(np.sum(s > rcond))
        folds.append((s, kept, u.T[:kept] @ y[fit], X[other] @ vt.T[:, :kept], y[other]))
    scale = max(folds[0][0].max(), folds[1][0].max())

    def loss(cutoff):
        total = 0.0
        for s, kept, projected, other_x, other_y in folds:
            n = min(kept, int(np.sum(s > cutoff)))
            total += _score(other_y, (other_x[:, :n] / s[:n]) @ projected[:n])
        return total / 2

    scores = [loss(alpha * scale) for alpha in ALPHAS]
    best = ALPHAS[int(np.argmax(scores))] * scale
    u, s, vt = np.linalg.svd(X, full_matrices=False)
    n = min(len(s), int(np.sum(s > best)))  # scikit-matter keeps every singular value above the cutoff here
    return (vt.T[:, :n] / s[:n]) @ (u.T[:n] @ y)


def _prepared(X, Y, train_idx, test_idx):
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise ValueError(f"X ({X.shape}) and Y ({Y.shape}) must have the same number of rows")
    train, test = _split(len(X), train_idx, test_idx)
    X_train, X_test = _scaled(X, train, test)
    Y_train, Y_test = _scaled(Y, train, test)
    return X_train, X_test, Y_train, Y_test


def reconstruction_measures(X, Y, train_idx=None, test_idx=None) -> dict:
    """``{"gfre": ..., "gfrd": ...}`` of X → Y in one pass (one fit of the linear map)."""
    X_train, X_test, Y_train, Y_test = _prepared(X, Y, train_idx, test_idx)
    weights = _cutoff_ridge(X_train, Y_train)
    predicted_test = X_test @ weights
    error = np.linalg.norm(Y_test - predicted_test, axis=1)
    # the orthogonal map closest to the linear one on the training half (both padded to one width)
    width = max(X_train.shape[1], Y_train.shape[1])
    target = X_train @ weights
    rotation = orthogonal_procrustes(np.pad(X_train, [(0, 0), (0, width - X_train.shape[1])]),
                                     np.pad(target, [(0, 0), (0, width - target.shape[1])]))[0]
    rotated_test = np.pad(X_test, [(0, 0), (0, width - X_test.shape[1])]) @ rotation
    # (X wider than Y: the prediction is compared in the padded width; scikit-matter 0.4 fails there)
    distortion = np.linalg.norm(np.pad(predicted_test, [(0, 0), (0, width - predicted_test.shape[1])]) - rotated_test, axis=1)
    return {"gfre": float(np.linalg.norm(error) / np.sqrt(len(error))),
            "gfrd": float(np.linalg.norm(distortion) / np.sqrt(len(distortion)))}


def global_reconstruction_error(X, Y, test_idx=None, train_idx=None) -> float:
    """GFRE of X → Y (see the module docstring)."""
    return reconstruction_measures(X, Y, train_idx, test_idx)["gfre"]


def global_reconstruction_distortion(X, Y, test_idx=None, train_idx=None) -> float:
    """GFRD of X → Y (see the module docstring)."""
    return reconstruction_measures(X, Y, train_idx, test_idx)["gfrd"]
