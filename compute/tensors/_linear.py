r"""The linear symmetry-adapted ridge (:class:`TensorRidge`) and the ridge path every tensor
model shares.

Each spherical part μ = −λ … λ of the target is predicted from the (λ, σ=+1) block of
:class:`compute.descriptors.EquivariantPowerSpectrum` with *one* weight per feature shared by
every μ:

    ŷ^{λ}_{μ}(A) = Σ_{i ∈ A} Σ_f w^{λ}_f X^{λ}_{μ f}(i)

so a rotation R of the structure rotates the prediction by D^λ(R), exactly (the features do), and
the prediction is a sum of atomic contributions, as a physical dipole or polarizability is. There
is no intercept (a constant vector would break the symmetry; for λ = 0 the centre atom's own term
in the density already gives each species a baseline). Each λ picks its regularisation by its
own cross-validation over structures.
"""

from __future__ import annotations

import numpy as np

from ..descriptors import EquivariantPowerSpectrum
from ..descriptors.lode import _blas_threads_for
from ._spherical import cartesian_to_spherical, spherical_to_cartesian

DEFAULT_ALPHAS = np.logspace(-8, 1, 10)


def _folds(n: int, n_splits: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [order[k::n_splits] for k in range(n_splits)]


def one_blas_thread():
    """A context with one BLAS thread, for eigendecompositions and matrix-vector products: their
    reduction to tridiagonal form, or the product, is bound by memory and gains little from a
    second thread, while on busy cores OpenBLAS's threads cost several times over (measured on
    two loaded cores: 400 × 400 eigh 0.04 s on one thread, 0.06-1.5 s on two; 1500 × 1500
    0.9 s against 4.3-4.6 s)."""
    return _blas_threads_for(0.0, on_gpu=False)


def eigh(M: np.ndarray):
    with one_blas_thread():
        return np.linalg.eigh(M)


def _ridge_path(X: np.ndarray, y: np.ndarray, alphas) -> list[np.ndarray]:
    """Weights of min |X w − y|² + α |w|² for every α, from the smaller of X Xᵀ and Xᵀ X
    (features scaled by the caller)."""
    if X.shape[0] <= X.shape[1]:  # dual: w = Xᵀ (X Xᵀ + α)⁻¹ y
        duals = _gram_path(X @ X.T, y, alphas)
        return list((X.T @ np.stack(duals, axis=1)).T) if y.ndim == 1 else [X.T @ c for c in duals]
    return _gram_path(X.T @ X, X.T @ y, alphas)


def _gram_path(G: np.ndarray, b: np.ndarray, alphas) -> list[np.ndarray]:
    """(G + α)⁻¹ b for every α (G = Xᵀ X or X Xᵀ), from one eigendecomposition of G."""
    values, vectors = eigh(G)
    projected = vectors.T @ b
    if projected.ndim == 1:  # one target: every α in one matrix product
        alphas = np.asarray(alphas, dtype=float)
        return list((vectors @ (projected[:, None] / (values[:, None] + alphas[None, :]))).T)
    return [vectors @ (projected / _column(values + alpha, projected)) for alpha in alphas]


def _column(d: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``d`` shaped to divide ``like`` row by row (y may hold one target or several)."""
    return d if like.ndim == 1 else d[:, None]


def _n_rows(features) -> int:
    """Rows (structures or atoms) of features from a model's ``features``."""
    if isinstance(features, dict):
        return next(iter(features.values())).shape[0]
    return features.n_rows


def take_rows(features, rows) -> object:
    """The rows ``rows`` (in that order) of features from a model's ``features``: a dict of
    blocks (:class:`TensorRidge`) or :class:`~compute.tensors.AtomicFeatures`."""
    rows = np.asarray(rows, dtype=np.int64)
    if isinstance(features, dict):
        return {lam: block[rows] for lam, block in features.items()}
    return features.take(rows)


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

    Attributes (after fit): ``weights_`` (of the unscaled features), ``alpha_`` (relative: the
    absolute one is ``alpha_ * scale_**2``), ``scale_`` (root mean squared row norm), each
    {λ: ...}; ``species_`` (after :meth:`fit`).
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

    def features(self, frames, species=None, per: str | None = None) -> dict[int, np.ndarray]:
        """{λ: (n_rows, 2λ+1, n_features)}: the descriptor's (λ, +1) blocks, one row per
        structure (sums over atoms) or per atom (``per``, default the model's)."""
        descriptor = self._descriptor()
        keys = [(lam, 1) for lam in self.lambdas]
        blocks = descriptor.compute(frames, per=per or self.per, backend=self.backend, species=species, selected_keys=keys)
        return {lam: blocks[(lam, 1)] for lam in self.lambdas}

    def fit(self, frames, Y):
        """Fit on structures ``frames`` and targets ``Y`` ((n, 3); (n, 6) xx yy zz xy xz yz or
        (n, 3, 3); one row per structure, or per atom with ``per="atom"``). Returns self."""
        frames = list(frames)
        self.species_ = self._descriptor().species_for(frames)
        return self.fit_features(self.features(frames, self.species_), Y)

    def fit_features(self, features, Y):
        """:meth:`fit` on features already computed (:meth:`features`; rows may be any subset,
        :func:`take_rows`)."""
        self._check_rows(Y, _n_rows(features))
        return self.fit_design(self._fit_design(features), Y)

    def _check_rows(self, Y, n: int):
        n_targets = len(np.asarray(Y))
        if n_targets != n:
            raise ValueError(f"{n_targets} targets for {n} rows ({'atoms' if self.per == 'atom' else 'structures'})")

    def fit_design(self, design: dict[int, np.ndarray], Y):
        """The ridge of each λ on design matrices {λ: (n_rows, 2λ+1, n_columns)} (the features
        here; kernel columns in :class:`TensorKernelRidge`), α by cross-validation over rows."""
        parts = cartesian_to_spherical(Y, self.rank)
        self._check_rows(Y, next(iter(design.values())).shape[0])
        self.weights_, self.alpha_, self.scale_ = {}, {}, {}
        for lam in self.lambdas:
            X, y = design[lam], parts[lam]
            # α is relative to the mean squared row norm, so one grid fits any feature scale (the
            # grid is scaled rather than X: no copy of a large design)
            scale = float(np.sqrt(np.mean(np.einsum("iuf,iuf->i", X, X)))) or 1.0
            alpha = self._choose_alpha(X, y, scale)
            self.weights_[lam] = _ridge_path(X.reshape(-1, X.shape[2]), y.reshape(-1), [alpha * scale ** 2])[0]
            self.alpha_[lam], self.scale_[lam] = alpha, scale
        return self

    # the design matrices {λ: (n_rows, 2λ+1, n_columns)} the ridge works on: the features
    # themselves here, kernel columns in TensorKernelRidge
    def _fit_design(self, features):
        return features

    def _design(self, features):
        return features

    def _choose_alpha(self, X: np.ndarray, y: np.ndarray, scale: float) -> float:
        """The relative α of the grid with the least cross-validated error (folds over rows,
        never over the 2λ+1 components of one row)."""
        grid = np.asarray(self.alphas if self.alphas is not None else DEFAULT_ALPHAS, dtype=float)
        n, width = X.shape[0], X.shape[2]
        if n < 2 * self.n_splits:
            return float(grid[len(grid) // 2])
        absolute = grid * scale ** 2
        errors = np.zeros(len(grid))
        folds = _folds(n, self.n_splits, self.random_state)
        primal = n * X.shape[1] * (self.n_splits - 1) / self.n_splits > width
        if primal:  # each fold's Xᵀ X from the whole one, less the fold's rows: no copy of X
            flat = X.reshape(-1, width)
            G, b = flat.T @ flat, flat.T @ y.reshape(-1)
        for test in folds:
            if primal:
                Xt = X[test].reshape(-1, width)
                path = _gram_path(G - Xt.T @ Xt, b - Xt.T @ y[test].reshape(-1), absolute)
            else:
                train = np.setdiff1d(np.arange(n), test)
                path = _ridge_path(X[train].reshape(-1, width), y[train].reshape(-1), absolute)
            predicted = X[test].reshape(-1, width) @ np.stack(path, axis=1)  # (rows · (2λ+1), α)
            errors += np.sum((predicted - y[test].reshape(-1, 1)) ** 2, axis=0)
        return float(grid[int(np.argmin(errors))])

    def predict_design(self, design: dict[int, np.ndarray]) -> np.ndarray:
        """Predictions (Cartesian) from design matrices (:meth:`fit_design`)."""
        parts = {lam: np.einsum("iuf,f->iu", design[lam], self.weights_[lam]) for lam in self.lambdas}
        return spherical_to_cartesian(parts, self.rank)

    def predict_features(self, features) -> np.ndarray:
        """:meth:`predict` from features already computed."""
        return self.predict_design(self._design(features))

    def predict(self, frames) -> np.ndarray:
        """Predictions in Cartesian form: (n, 3) vectors or (n, 3, 3) tensors."""
        return self.predict_features(self.features(list(frames), self.species_))

    def predict_atoms(self, frames) -> np.ndarray:
        """The atomic contributions, one row per atom (by structure, then atom): for a model
        fitted per structure they sum, over each structure's atoms, to :meth:`predict`."""
        return self.predict_features(self.features(list(frames), self.species_, per="atom"))
