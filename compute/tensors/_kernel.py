r"""Symmetry-adapted Gaussian-process regression (SA-GPR) of vectors and symmetric tensors: the
λ-SOAP kernel ridge :class:`TensorKernelRidge`.

For atoms i, j with λ-SOAP features x_i^λ ((2λ+1) × F, the (λ, +1) block) the atomic kernel is a
(2λ+1) × (2λ+1) block

    k^λ(i, j) = x̂_i^λ (x̂_j^λ)ᵀ · k_0(i, j)^{ζ−1},     k_0(i, j) = p̂_i · p̂_j

(Grisafi, Wilkins, Csányi, Ceriotti, PRL 120, 036002 (2018)), with x̂ = x / |x|_F when
``normalize`` and p̂ the unit λ=0 power spectrum (a scalar, rotation-invariant weight, so the
product stays equivariant: k^λ(Ri, j) = D^λ(R) k^λ(i, j)). The structure kernel is the sum over
atom pairs, K^λ_{AB} = Σ_{i∈A} Σ_{j∈B} k^λ(i, j), and a prediction is a sum of atomic terms,

    ŷ^λ(A) = Σ_{i∈A} Σ_b k^λ(i, b) c_b,

b running over a *basis*: the training structures (``n_active=None``, exact kernel ridge on the
n(2λ+1) × n(2λ+1) kernel) or ``n_active`` atomic environments picked by farthest point sampling
on p̂ (subset of regressors / Nyström: min |K_NM c − y|² + α cᵀ K_MM c, memory O(n M (2λ+1)²)).

Both are solved as a linear ridge on the Nyström columns Φ = K_{·,basis} U Λ^{−1/2} (K_basis =
U Λ Uᵀ): Φ_A Φ_Bᵀ equals the kernel between training structures, so ridge on any subset of the
training rows of Φ *is* kernel ridge on that subset, and the cross-validation over structures and
the grid of α are :class:`TensorRidge`'s, unchanged. With ζ = 1 and ``normalize=False`` the kernel
is x_A x_Bᵀ of the summed features: the model is :class:`TensorRidge` in its dual form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..kernels import nystrom_projector
from ..selection import fps_indices
from ._linear import TensorRidge, one_blas_thread

# the atom-pair kernel is built in slabs of about this many bytes: bounded memory at any size
_SLAB_BYTES = 64 << 20
# n_active="auto": exact kernel ridge up to this many training atoms (its cost grows as their
# square), else this many active environments
_AUTO_EXACT_ATOMS, _AUTO_ACTIVE = 1000, 500
# active environments are picked among at most this many atoms (a random subset beyond), and
# structures are read this many atoms at a time: memory bounded whatever the data set's size
_FPS_CANDIDATES, _BATCH_ATOMS = 20000, 2000


@dataclass
class AtomicFeatures:
    """What :class:`TensorKernelRidge` computes from structures: per-atom λ blocks and the unit
    invariant of each atom, and the row (structure, or the atom itself) each atom belongs to.

    ``blocks``: {λ: (n_atoms, 2λ+1, F)}; ``invariant``: (n_atoms, F0), unit rows; ``rows``:
    (n_atoms,) non-decreasing, every row 0 … n_rows−1 holding at least one atom.
    """

    blocks: dict[int, np.ndarray]
    invariant: np.ndarray
    rows: np.ndarray
    n_rows: int

    def __post_init__(self):
        self.rows = np.asarray(self.rows, dtype=np.int64)
        self.starts = np.searchsorted(self.rows, np.arange(self.n_rows + 1))
        if np.any(np.diff(self.rows) < 0) or np.any(np.diff(self.starts) == 0):
            raise ValueError("AtomicFeatures: atoms must be grouped by row, each row with at least one atom")

    def __len__(self) -> int:
        return self.n_rows

    def take(self, rows) -> AtomicFeatures:
        """The rows ``rows`` in that order (their atoms regrouped)."""
        rows = np.asarray(rows, dtype=np.int64)
        counts = self.starts[rows + 1] - self.starts[rows]
        atoms = np.concatenate([np.arange(self.starts[r], self.starts[r + 1]) for r in rows]) if len(rows) else np.zeros(0, np.int64)
        return AtomicFeatures({lam: block[atoms] for lam, block in self.blocks.items()}, self.invariant[atoms],
                              np.repeat(np.arange(len(rows)), counts), len(rows))

    def atoms(self, atoms) -> AtomicFeatures:
        """The atoms ``atoms``, each a row of its own (the active environments)."""
        atoms = np.asarray(atoms, dtype=np.int64)
        return AtomicFeatures({lam: block[atoms] for lam, block in self.blocks.items()}, self.invariant[atoms],
                              np.arange(len(atoms)), len(atoms))

    def row_sums(self, lam: int) -> np.ndarray:
        return np.add.reduceat(self.blocks[lam], self.starts[:-1], axis=0)


def _unit_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit Frobenius norm; zero rows (an atom alone, λ > 0) stay zero."""
    norms = np.sqrt(np.sum(X.reshape(len(X), -1) ** 2, axis=1))
    return X / np.where(norms > 0, norms, 1.0).reshape((-1,) + (1,) * (X.ndim - 1))


def structure_kernel(A: AtomicFeatures, B: AtomicFeatures, lam: int, zeta: float) -> np.ndarray:
    """K^λ between the rows of A and B: (A.n_rows, 2λ+1, B.n_rows, 2λ+1), the sum over their
    atom pairs of x_i x_jᵀ (p_i · p_j)^{ζ−1}. ``B is A`` computes one triangle and mirrors it."""
    u = 2 * lam + 1
    if zeta == 1:  # no weight between atom pairs: the sums over atoms first, one product
        SA, SB = A.row_sums(lam), (A.row_sums(lam) if B is A else B.row_sums(lam))
        return (SA.reshape(-1, SA.shape[2]) @ SB.reshape(-1, SB.shape[2]).T).reshape(A.n_rows, u, B.n_rows, u)
    symmetric = B is A
    XB = np.ascontiguousarray(B.blocks[lam].reshape(-1, B.blocks[lam].shape[2]))  # (J·v, F)
    singles = B.n_rows == len(B.rows)  # each reference atom its own row: nothing to add up over B
    out = np.zeros((A.n_rows, u, B.n_rows, u))
    bytes_per_atom = max(1, len(B.rows) * u * u * 8)
    row = 0
    while row < A.n_rows:  # slabs of whole rows of A, each against the atoms of B
        end = row + 1
        while end < A.n_rows and (A.starts[end + 1] - A.starts[row]) * bytes_per_atom <= _SLAB_BYTES:
            end += 1
        i0, i1 = A.starts[row], A.starts[end]
        b0 = row if symmetric else 0  # the upper triangle only: rows of B from this slab's first
        j0 = B.starts[b0]
        XA = A.blocks[lam][i0:i1].reshape(-1, XB.shape[1])
        k = (XA @ XB[j0 * u:].T).reshape(i1 - i0, u, -1, u)
        weight = np.maximum(A.invariant[i0:i1] @ B.invariant[j0:].T, 0.0) ** (zeta - 1)  # p̂·p̂ ≥ 0 but for rounding
        k *= weight[:, None, :, None]
        if not singles:
            k = np.add.reduceat(k, B.starts[b0:-1] - j0, axis=2)
        out[row:end, :, b0:, :] = np.add.reduceat(k, A.starts[row:end] - i0, axis=0)
        row = end
    if symmetric:  # the lower triangle (row a > column b) from the upper
        lower = np.arange(A.n_rows)[:, None] > np.arange(A.n_rows)[None, :]
        out = np.where(lower[:, None, :, None], out.transpose(2, 3, 0, 1), out)
    return out


class TensorKernelRidge(TensorRidge):
    """SA-GPR: kernel ridge regression of vectors (``rank=1``) or symmetric 3×3 tensors
    (``rank=2``) with the λ-SOAP kernel, equivariant by construction and additive over atoms.

    Parameters
    ----------
    rank, descriptor, alphas, n_splits, per, backend, random_state : as :class:`TensorRidge`
        (``alphas`` relative to the mean diagonal of the training kernel, trace(K)/n).
    zeta : float, default 2
        The scalar kernel's power: k^λ(i, j) k_0(i, j)^{ζ−1}; ζ = 1 is the linear λ kernel.
    normalize : bool, default True
        Scale each atom's λ block to unit Frobenius norm (as SA-GPR does).
    n_active : int, None or "auto", default "auto"
        ``None``: exact kernel ridge, the basis is the training rows (memory and time grow as the
        square of the training atoms). An int: that many active atomic environments (FPS on the
        λ=0 invariant of the training atoms; all of them if fewer), the subset-of-regressors
        approximation. ``"auto"``: exact up to 1,000 training atoms, else 500 active environments.
    rcond : float, default 1e-13
        Eigenvalues of the basis kernel below ``rcond`` times the largest are dropped: well
        below the smallest α of the grid times n, or the dropped directions would change the fit
        (rounding puts the noise floor near 1e-16 · n).

    Attributes (after fit): those of :class:`TensorRidge`, and ``basis_`` (AtomicFeatures),
    ``projector_`` {λ: U Λ^{−1/2}}.

    Examples
    --------
    >>> from ase.build import molecule
    >>> from compute.descriptors import EquivariantPowerSpectrum
    >>> frames = [molecule(name) for name in ("H2O", "NH3", "CH4", "CH3OH", "HCOOH", "CH3CHO")]
    >>> dipoles = [a.get_positions().sum(0) * 0.1 for a in frames]
    >>> model = TensorKernelRidge(1, EquivariantPowerSpectrum(cutoff=3.0, n_max=2, l_max=1), backend="numpy")
    >>> model.fit(frames, dipoles).predict(frames).shape
    (6, 3)
    """

    def __init__(self, rank: int = 1, descriptor=None, zeta: float = 2, normalize: bool = True, n_active="auto",
                 alphas=None, n_splits: int = 5, per: str = "structure", backend: str = "auto", random_state: int = 0,
                 rcond: float = 1e-13):
        super().__init__(rank=rank, descriptor=descriptor, alphas=alphas, n_splits=n_splits, per=per, backend=backend,
                         random_state=random_state)
        if not zeta >= 1:
            raise ValueError(f"zeta must be >= 1, got {zeta!r}")
        if not (n_active is None or n_active == "auto" or (isinstance(n_active, (int, np.integer)) and n_active > 0)):
            raise ValueError(f"n_active must be None, 'auto' or a positive int, got {n_active!r}")
        self.zeta = zeta
        self.normalize = normalize
        self.n_active = n_active
        self.rcond = rcond

    def features(self, frames, species=None, per: str | None = None) -> AtomicFeatures:
        """Per-atom λ blocks (unit norm with ``normalize``), the unit λ=0 invariant, and each
        atom's row: its structure, or itself (``per``, default the model's)."""
        frames = list(frames)
        keys = sorted({(lam, 1) for lam in self.lambdas} | {(0, 1)})
        blocks = self._descriptor().compute(frames, per="atom", backend=self.backend, species=species, selected_keys=keys)
        invariant = _unit_rows(blocks[(0, 1)][:, 0, :])
        lam_blocks = {lam: (_unit_rows(blocks[(lam, 1)]) if self.normalize else blocks[(lam, 1)]) for lam in self.lambdas}
        counts = [len(atoms) for atoms in frames]
        if (per or self.per) == "structure":
            return AtomicFeatures(lam_blocks, invariant, np.repeat(np.arange(len(frames)), counts), len(frames))
        return AtomicFeatures(lam_blocks, invariant, np.arange(sum(counts)), sum(counts))

    # -- the basis: training rows (exact) or active environments (sparse) ------------------------
    def n_active_for(self, n_atoms: int) -> int | None:
        """The active environments a fit on ``n_atoms`` training atoms uses (None: exact)."""
        if self.n_active == "auto":
            return None if n_atoms <= _AUTO_EXACT_ATOMS else _AUTO_ACTIVE
        return None if self.n_active is None else int(self.n_active)

    def _basis(self, features: AtomicFeatures) -> AtomicFeatures:
        n_atoms = len(features.rows)
        n_active = self.n_active_for(n_atoms)
        if n_active is None:
            return features
        return features.atoms(_farthest_atoms(features.invariant, n_active))

    def _set_basis(self, basis: AtomicFeatures) -> dict[int, np.ndarray]:
        """Set ``basis_`` and ``projector_``; returns the basis kernels {λ: K_bb}."""
        self.basis_, self.projector_, kernels = basis, {}, {}
        for lam in self.lambdas:
            K_bb = structure_kernel(basis, basis, lam, self.zeta).reshape(basis.n_rows * (2 * lam + 1), -1)
            with one_blas_thread():
                self.projector_[lam] = nystrom_projector(K_bb, rcond=self.rcond)
            kernels[lam] = K_bb
        return kernels

    def choose_basis(self, frames, species=None) -> TensorKernelRidge:
        """Pick the active environments among the atoms of ``frames`` (FPS on the invariant; no
        targets are used, so they may come from structures without one) and set up the basis,
        reading the structures in batches: the memory is that of the candidates' invariants
        (at most 20,000 atoms, a random subset beyond) and of one batch, not of every atom's
        features. Then :meth:`design` and :meth:`fit_design`. Returns self."""
        frames = list(frames)
        self.species_ = np.asarray(species) if species is not None else self._descriptor().species_for(frames)
        n_atoms = sum(len(atoms) for atoms in frames)
        n_active = self.n_active_for(n_atoms)
        if n_active is None:
            raise ValueError("choose_basis is for active environments (n_active an int, or 'auto' beyond "
                             f"{_AUTO_EXACT_ATOMS} atoms); the exact model's basis is its training set")
        rng = np.random.default_rng(self.random_state)
        candidates = np.arange(n_atoms) if n_atoms <= _FPS_CANDIDATES else np.sort(rng.choice(n_atoms, _FPS_CANDIDATES, replace=False))
        offsets = np.concatenate([[0], np.cumsum([len(atoms) for atoms in frames])])
        invariant = []
        for first, last in _batches(frames):
            block = self._descriptor().compute(frames[first:last], per="atom", backend=self.backend, species=self.species_,
                                               selected_keys=[(0, 1)])[(0, 1)][:, 0, :]
            inside = candidates[(candidates >= offsets[first]) & (candidates < offsets[last])] - offsets[first]
            invariant.append(_unit_rows(block[inside]))
        picked = np.sort(candidates[_farthest_atoms(np.concatenate(invariant), n_active)])
        parts = []  # the active atoms' features, from the structures that hold them
        owner = np.searchsorted(offsets, picked, side="right") - 1
        for first, last in _batches(frames):
            mine = (owner >= first) & (owner < last)
            if mine.any():
                batch = self.features(frames[first:last], self.species_, per="atom")
                parts.append(batch.atoms(picked[mine] - offsets[first]))
        self._set_basis(AtomicFeatures({lam: np.concatenate([b.blocks[lam] for b in parts]) for lam in self.lambdas},
                                       np.concatenate([b.invariant for b in parts]), np.arange(len(picked)), len(picked)))
        return self

    # -- design matrices: the Nyström columns K(row, basis) U Λ^{-1/2} --------------------------
    def _fit_design(self, features: AtomicFeatures) -> dict[int, np.ndarray]:
        basis = self._basis(features)
        kernels = self._set_basis(basis)
        if basis is features:  # exact: the rows are the basis, K_nn U Λ^{-1/2} from K_nn itself
            return {lam: (kernels[lam] @ self.projector_[lam]).reshape(features.n_rows, 2 * lam + 1, -1) for lam in self.lambdas}
        return self._design(features)

    def _design(self, features: AtomicFeatures) -> dict[int, np.ndarray]:
        design = {}
        for lam in self.lambdas:
            u = 2 * lam + 1
            K = structure_kernel(features, self.basis_, lam, self.zeta).reshape(features.n_rows * u, -1)
            design[lam] = (K @ self.projector_[lam]).reshape(features.n_rows, u, -1)
        return design

    def design(self, frames, per: str | None = None) -> dict[int, np.ndarray]:
        """{λ: (n_rows, 2λ+1, n_columns)} of ``frames`` against the fitted (or chosen) basis,
        computed in batches of structures (the features of one batch in memory at a time)."""
        frames = list(frames)
        parts = [self._design(self.features(frames[first:last], self.species_, per=per)) for first, last in _batches(frames)]
        return {lam: np.concatenate([part[lam] for part in parts]) for lam in self.lambdas}

    # -- fit and predict, in batches where the basis allows ------------------------------------
    def fit(self, frames, Y):
        """As :meth:`TensorRidge.fit`. With active environments the structures are read in
        batches (:meth:`choose_basis`, :meth:`design`): memory O(rows · columns), not O(atoms ·
        features)."""
        frames = list(frames)
        n_atoms = sum(len(atoms) for atoms in frames)
        if self.n_active_for(n_atoms) is None:
            self.species_ = self._descriptor().species_for(frames)
            return self.fit_features(self.features(frames, self.species_), Y)
        self._check_rows(Y, len(frames) if self.per == "structure" else n_atoms)
        self.choose_basis(frames)
        return self.fit_design(self.design(frames), Y)

    def predict(self, frames) -> np.ndarray:
        return self.predict_design(self.design(frames))

    def predict_atoms(self, frames) -> np.ndarray:
        return self.predict_design(self.design(frames, per="atom"))


def _farthest_atoms(invariant: np.ndarray, n: int) -> np.ndarray:
    """Sorted indices of ``n`` rows picked by FPS (all rows if there are no more)."""
    if n >= len(invariant):
        return np.arange(len(invariant))
    with one_blas_thread():  # FPS: one matrix-vector product per pick
        return np.sort(fps_indices(invariant, n, backend="numpy"))


def _batches(frames):
    """(first, last) ranges of consecutive structures of about ``_BATCH_ATOMS`` atoms each."""
    first, atoms = 0, 0
    for k, structure in enumerate(frames):
        atoms += len(structure)
        if atoms >= _BATCH_ATOMS:
            yield first, k + 1
            first, atoms = k + 1, 0
    if first < len(frames):
        yield first, len(frames)
