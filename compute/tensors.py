r"""Learning vectors and symmetric tensors with features that rotate like them (λ-SOAP).

A Cartesian target is split into its irreducible spherical parts (``cartesian_to_spherical``):
a vector is one λ=1 part; a symmetric 3×3 tensor (a polarizability) is a λ=0 part (its trace/3,
scaled to unit norm below) and a λ=2 part (its traceless part). Each part μ = −λ … λ is predicted
from the (λ, σ=+1) block of :class:`compute.descriptors.EquivariantPowerSpectrum` with *one*
weight per feature shared by every μ:

    ŷ^{λ}_{μ}(A) = Σ_{i ∈ A} Σ_f w^{λ}_f X^{λ}_{μ f}(i)

so a rotation R of the structure rotates the prediction by D^λ(R), exactly (the features do), and
the prediction is a sum of atomic contributions, as a physical dipole or polarizability is. There
is no intercept (a constant vector would break the symmetry; for λ = 0 the centre atom's own term
in the density already gives each species a baseline). Each λ picks its regularisation by its
own cross-validation over structures.
"""

from __future__ import annotations

import math

import numpy as np

from .descriptors import EquivariantPowerSpectrum

__all__ = ["cartesian_to_spherical", "spherical_to_cartesian", "symmetric_matrices", "ellipsoids", "TensorRidge",
           "tensor_learning_curve"]

_S2 = math.sqrt(2.0)
_S3 = math.sqrt(3.0)
_S6 = math.sqrt(6.0)


def _as_tensors(Y, rank: int) -> np.ndarray:
    """(n, 3) vectors, or (n, 3, 3) symmetric tensors from (n, 6) xx yy zz xy xz yz or (n, 3, 3)."""
    Y = np.asarray(Y, dtype=float)
    if rank == 1:
        if Y.ndim != 2 or Y.shape[1] != 3:
            raise ValueError(f"rank-1 targets are (n, 3) vectors; got shape {Y.shape}")
        return Y
    if rank != 2:
        raise ValueError(f"rank must be 1 (vectors) or 2 (symmetric 3x3 tensors), got {rank!r}")
    if Y.ndim == 2 and Y.shape[1] == 6:
        xx, yy, zz, xy, xz, yz = Y.T
        return np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], axis=1)
    if Y.ndim == 3 and Y.shape[1:] == (3, 3):
        if not np.allclose(Y, Y.transpose(0, 2, 1), rtol=1e-10, atol=1e-12 * max(1.0, np.abs(Y).max())):
            raise ValueError("rank-2 targets must be symmetric tensors")
        return Y
    raise ValueError(f"rank-2 targets are (n, 6) as xx yy zz xy xz yz or (n, 3, 3); got shape {Y.shape}")


def symmetric_matrices(Y) -> np.ndarray:
    """(n, 3, 3) symmetric tensors from (n, 6) components xx yy zz xy xz yz (or (n, 3, 3))."""
    return _as_tensors(Y, 2)


def ellipsoids(Y) -> tuple[np.ndarray, np.ndarray]:
    """(semi-axes (n, 3), orientation quaternions (n, 4) as x, y, z, w) of symmetric tensors: the
    semi-axes are the absolute eigenvalues, largest first; the quaternion turns the x, y, z axes
    onto the eigenvectors (a rotation, not a reflection).

    Examples
    --------
    >>> axes, q = ellipsoids([[3.0, 2.0, 1.0, 0.0, 0.0, 0.0]])
    >>> np.round(axes, 6).tolist(), np.round(np.abs(q), 6).tolist()
    ([[3.0, 2.0, 1.0]], [[0.0, 0.0, 0.0, 1.0]])
    """
    from scipy.spatial.transform import Rotation

    values, vectors = np.linalg.eigh(symmetric_matrices(Y))
    order = np.argsort(-np.abs(values), axis=1)
    values = np.take_along_axis(values, order, 1)
    vectors = np.take_along_axis(vectors, order[:, None, :], 2)
    vectors[np.linalg.det(vectors) < 0, :, 2] *= -1
    return np.abs(values), Rotation.from_matrix(vectors).as_quat()


def cartesian_to_spherical(Y, rank: int) -> dict[int, np.ndarray]:
    """The spherical parts {λ: (n, 2λ+1)} of vectors (rank 1) or symmetric tensors (rank 2), in
    the real-harmonic order of ``compute.descriptors`` (μ = −λ … λ). The change of basis is
    orthonormal: norms are kept (Σ_λ |part|² = |Y|² with the tensor's Frobenius norm).

    λ=1 of a vector v: (v_y, v_z, v_x). λ=0 of a tensor A: tr(A)/√3 (that is √3 · trace/3);
    λ=2: (√2 A_xy, √2 A_yz, (2A_zz − A_xx − A_yy)/√6, √2 A_xz, (A_xx − A_yy)/√2).

    Examples
    --------
    >>> parts = cartesian_to_spherical([[1.0, 2.0, 3.0, 0.0, 0.0, 0.0]], rank=2)
    >>> round(float(parts[0][0, 0]) / 3 ** 0.5, 12)   # the trace/3
    2.0
    >>> np.allclose(spherical_to_cartesian(parts, rank=2), [[[1, 0, 0], [0, 2, 0], [0, 0, 3]]])
    True
    """
    T = _as_tensors(Y, rank)
    if rank == 1:
        return {1: T[:, [1, 2, 0]].copy()}
    xx, yy, zz = T[:, 0, 0], T[:, 1, 1], T[:, 2, 2]
    xy, xz, yz = T[:, 0, 1], T[:, 0, 2], T[:, 1, 2]
    return {
        0: ((xx + yy + zz) / _S3)[:, None],
        2: np.stack([_S2 * xy, _S2 * yz, (2 * zz - xx - yy) / _S6, _S2 * xz, (xx - yy) / _S2], axis=1),
    }


def spherical_to_cartesian(parts: dict[int, np.ndarray], rank: int) -> np.ndarray:
    """Back from :func:`cartesian_to_spherical`: (n, 3) vectors or (n, 3, 3) symmetric tensors."""
    if rank == 1:
        v = np.asarray(parts[1])
        return v[:, [2, 0, 1]].copy()
    a = np.asarray(parts[0])[:, 0] / _S3  # trace / 3
    q = np.asarray(parts[2])
    xy, yz, xz = q[:, 0] / _S2, q[:, 1] / _S2, q[:, 3] / _S2
    zz = a + 2 * q[:, 2] / _S6
    xx = a - q[:, 2] / _S6 + q[:, 4] / _S2
    yy = a - q[:, 2] / _S6 - q[:, 4] / _S2
    return np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1), np.stack([xz, yz, zz], -1)], axis=1)


def _folds(n: int, n_splits: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[k::n_splits] for k in range(n_splits)]


def _ridge_path(X: np.ndarray, y: np.ndarray, alphas) -> list[np.ndarray]:
    """Weights of min |X w − y|² + α |w|² for every α, from one eigendecomposition of the
    smaller of X Xᵀ and Xᵀ X (features scaled by the caller)."""
    if X.shape[0] <= X.shape[1]:  # dual: w = Xᵀ (X Xᵀ + α)⁻¹ y
        values, vectors = np.linalg.eigh(X @ X.T)
        projected = vectors.T @ y
        return [X.T @ (vectors @ (projected / _column(values + alpha, projected))) for alpha in alphas]
    values, vectors = np.linalg.eigh(X.T @ X)
    projected = vectors.T @ (X.T @ y)
    return [vectors @ (projected / _column(values + alpha, projected)) for alpha in alphas]


def _column(d: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``d`` shaped to divide ``like`` row by row (y may hold one target or several)."""
    return d if like.ndim == 1 else d[:, None]


def _ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> np.ndarray:
    return _ridge_path(X, y, [alpha])[0]


class TensorRidge:
    """Symmetry-adapted linear ridge regression of vectors (``rank=1``) or symmetric 3×3
    tensors (``rank=2``) from λ-SOAP features, equivariant by construction.

    Parameters
    ----------
    rank : {1, 2}
    descriptor : EquivariantPowerSpectrum, optional
        Its (λ, +1) blocks are the features (default: cutoff 4 Å, n_max 4, l_max 3).
    alphas : sequence of float
        Regularisation grid, relative to the mean squared feature norm; each λ picks its own by
        ``n_splits``-fold cross-validation over structures (or over the rows of per-atom targets).
    per : {"structure", "atom"}
        One target per structure (a sum of atomic contributions), or one per atom.
    backend : str
        Of the descriptor (see ``compute._dispatch``).
    """

    def __init__(self, rank: int = 1, descriptor: EquivariantPowerSpectrum | None = None, alphas=None, n_splits: int = 5,
                 per: str = "structure", backend: str = "auto", random_state: int = 0):
        if rank not in (1, 2):
            raise ValueError(f"rank must be 1 (vectors) or 2 (symmetric 3x3 tensors), got {rank!r}")
        if per not in ("structure", "atom"):
            raise ValueError(f"per={per!r}: expected 'structure' or 'atom'")
        self.rank = rank
        self.descriptor = descriptor
        self.alphas = alphas
        self.n_splits = n_splits
        self.per = per
        self.backend = backend
        self.random_state = random_state

    @property
    def lambdas(self) -> tuple[int, ...]:
        return (1,) if self.rank == 1 else (0, 2)

    def _descriptor(self) -> EquivariantPowerSpectrum:
        return self.descriptor if self.descriptor is not None else EquivariantPowerSpectrum(cutoff=4.0, n_max=4, l_max=3,
                                                                                           density_width=0.4)

    def features(self, frames, species=None) -> dict[int, np.ndarray]:
        """{λ: (n_rows, 2λ+1, n_features)}: the descriptor's (λ, +1) blocks."""
        descriptor = self._descriptor()
        keys = [(lam, 1) for lam in self.lambdas]
        blocks = descriptor.compute(frames, per=self.per, backend=self.backend, species=species, selected_keys=keys)
        return {lam: blocks[(lam, 1)] for lam in self.lambdas}

    def fit(self, frames, Y):
        """Fit on structures ``frames`` and targets ``Y`` ((n, 3); (n, 6) xx yy zz xy xz yz or
        (n, 3, 3); one row per structure, or per atom with ``per="atom"``). Returns self."""
        frames = list(frames)
        self.species_ = self._descriptor().species_for(frames)
        return self.fit_features(self.features(frames, self.species_), Y)

    def fit_features(self, features: dict[int, np.ndarray], Y):
        """:meth:`fit` on features already computed (:meth:`features`; rows may be any subset)."""
        parts = cartesian_to_spherical(Y, self.rank)
        n = next(iter(features.values())).shape[0]
        if len(next(iter(parts.values()))) != n:
            raise ValueError(f"{len(next(iter(parts.values())))} targets for {n} rows ({'atoms' if self.per == 'atom' else 'structures'})")
        self.weights_, self.alpha_, self.scale_ = {}, {}, {}
        for lam in self.lambdas:
            X, y = features[lam], parts[lam]
            scale = float(np.sqrt(np.mean(np.einsum("iuf,iuf->i", X, X)))) or 1.0
            X = X / scale
            alpha = self._choose_alpha(X, y)
            self.weights_[lam] = _ridge(X.reshape(-1, X.shape[2]), y.reshape(-1), alpha)
            self.alpha_[lam], self.scale_[lam] = alpha, scale
        return self

    def _choose_alpha(self, X: np.ndarray, y: np.ndarray) -> float:
        grid = np.asarray(self.alphas if self.alphas is not None else np.logspace(-8, 1, 10), dtype=float)
        n = X.shape[0]
        if n < 2 * self.n_splits:
            return float(grid[len(grid) // 2])
        errors = np.zeros(len(grid))
        for test in _folds(n, self.n_splits, self.random_state):
            train = np.setdiff1d(np.arange(n), test)
            path = _ridge_path(X[train].reshape(-1, X.shape[2]), y[train].reshape(-1), grid)
            for k, w in enumerate(path):
                errors[k] += np.sum((np.einsum("iuf,f->iu", X[test], w) - y[test]) ** 2)
        return float(grid[int(np.argmin(errors))])

    def predict_features(self, features: dict[int, np.ndarray]) -> np.ndarray:
        """:meth:`predict` from features already computed."""
        parts = {lam: np.einsum("iuf,f->iu", features[lam] / self.scale_[lam], self.weights_[lam]) for lam in self.lambdas}
        return spherical_to_cartesian(parts, self.rank)

    def predict(self, frames) -> np.ndarray:
        """Predictions in Cartesian form: (n, 3) vectors or (n, 3, 3) tensors."""
        return self.predict_features(self.features(list(frames), self.species_))


def tensor_learning_curve(frames, Y, rank: int, train_sizes, *, descriptor=None, n_test: int | None = None, per="structure",
                          random_state: int = 0, backend: str = "auto") -> list[dict]:
    """Test RMSE (over all Cartesian components) of :class:`TensorRidge` against training size,
    and, for comparison, of a scalar ridge on the λ=0 features fitted to each Cartesian
    component separately (a model that ignores how the target rotates).

    The baseline's regularisation is the best one on the test set itself: an optimistic
    baseline, so a gap in the tensor model's favour is not an artefact of tuning.

    Returns one dict per size: ``train_size``, ``rmse_test``, ``rmse_scalar``, ``target_std``.
    """
    frames = list(frames)
    T = _as_tensors(Y, rank).reshape(len(frames) if per == "structure" else -1, -1)
    n = len(T)
    order = np.random.default_rng(random_state).permutation(n)
    n_test = n_test or max(1, n // 5)
    test, pool = order[:n_test], order[n_test:]
    model = TensorRidge(rank=rank, descriptor=descriptor, per=per, backend=backend, random_state=random_state)
    descriptor = model._descriptor()
    species = descriptor.species_for(frames)
    features = model.features(frames, species)  # once: every fit below takes its rows
    invariant = descriptor.compute(frames, per=per, backend=backend, species=species, selected_keys=[(0, 1)])[(0, 1)][:, 0, :]
    scale = float(np.sqrt(np.mean(np.sum(invariant ** 2, axis=1)))) or 1.0
    invariant = invariant / scale
    Y_cartesian = T  # the same components as the tensor model is scored on
    rows = []
    for size in train_sizes:
        train = pool[: int(size)]
        model.fit_features({lam: block[train] for lam, block in features.items()}, np.asarray(Y)[train])
        predicted = model.predict_features({lam: block[test] for lam, block in features.items()}).reshape(len(test), -1)
        reference = T[test]
        rmse = float(np.sqrt(np.mean((predicted - reference) ** 2)))
        # scalar baseline: each stored component on its own, rotation-blind
        best = min(float(np.sqrt(np.mean((invariant[test] @ W - Y_cartesian[test]) ** 2)))
                   for W in _ridge_path(invariant[train], Y_cartesian[train], np.logspace(-8, 1, 10)))
        rows.append({"train_size": int(size), "rmse_test": rmse, "rmse_scalar": best, "target_std": float(np.std(reference))})
    return rows
