r"""λ-SOAP: the equivariant power spectrum, built on :class:`SphericalExpansion`.

For a centre i with density coefficients c[a, l m, n] (``SphericalExpansion``), each pair of
angular channels l1 ≤ l2 and each λ with |l1 − l2| ≤ λ ≤ l1 + l2 gives

    p^{λ}_{μ}[i; l1 l2, a1 n1, a2 n2] = Σ_{m1 m2} R^{λ μ}_{l1 m1, l2 m2} c[i; a1, l1 m1, n1] c[i; a2, l2 m2, n2]

with R the real Clebsch–Gordan coupling (``_coupling.real_coupling``). It rotates like the real
spherical harmonics of degree λ and has parity σ = (−1)^{l1 + l2 + λ} under inversion, so the
blocks are keyed by (λ, σ). This is featomic 0.6's
``clebsch_gordan.EquivariantPowerSpectrum(SphericalExpansion(...), neighbor_types=all species)``
with ``neighbors_to_properties=True``: every (a1, n1, a2, n2) for l1 ≤ l2, all centre species
in one array. The (λ=0, σ=+1) block is the SOAP power spectrum up to the per-l factor
(−1)^l / √(2l+1) and the symmetrisation over a ≤ b.

Per structure the rows are **sums** over the structure's atoms, not means: an equivariant
feature is used to learn a tensor property (a dipole, a polarizability), and those are sums of
atomic contributions.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._coupling import real_coupling
from ..systems import structure_offsets
from .soap import OnExpansion, _chemical_symbol, per_structure, prepare_call


class EquivariantPowerSpectrum(OnExpansion):
    """λ-SOAP features: ``compute`` returns ``{(λ, σ): ndarray (n_rows, 2λ+1, n_features)}``.

    Hyperparameters are those of :class:`SphericalExpansion` (featomic 0.6 definitions).

    Examples
    --------
    >>> from ase.build import molecule
    >>> eq = EquivariantPowerSpectrum(cutoff=4.0, n_max=2, l_max=1, density_width=0.35)
    >>> blocks = eq.compute(molecule("H2O"), backend="numpy")
    >>> sorted(blocks), blocks[(1, 1)].shape   # 3 atoms, μ = -1, 0, 1; (l1, l2) = (0, 1): 2·2·2·2
    ([(0, 1), (1, -1), (1, 1), (2, 1)], (3, 3, 16))
    """


    # -- layout -------------------------------------------------------------------------------------
    def keys(self) -> list[tuple[int, int]]:
        """Every (λ, σ) block, λ = 0 … 2 l_max."""
        return [key for key in self._pairs_by_key() if self._pairs_by_key()[key]]

    def _pairs_by_key(self) -> dict[tuple[int, int], list[tuple[int, int]]]:
        """(λ, σ) -> the (l1, l2) pairs (l1 ≤ l2) that couple to it."""
        out: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for lam in range(2 * self.l_max + 1):
            for sigma in (1, -1):
                out[(lam, sigma)] = [(l1, l2) for l1 in range(self.l_max + 1) for l2 in range(l1, self.l_max + 1)
                                     if abs(l1 - l2) <= lam <= l1 + l2 and (-1) ** (l1 + l2 + lam) == sigma]
        return {key: pairs for key, pairs in out.items() if pairs}

    def feature_labels(self, key: tuple[int, int], species) -> np.ndarray:
        """Integer labels (l1, l2, species_1, n1, species_2, n2) of a block's columns."""
        species = np.array(sorted(int(z) for z in species))
        labels = []
        for l1, l2 in self._pairs_by_key()[tuple(key)]:
            grid = np.stack(np.meshgrid(species, np.arange(self.n_max), species, np.arange(self.n_max), indexing="ij"), axis=-1)
            grid = grid.reshape(-1, 4)
            labels.append(np.column_stack([np.full(len(grid), l1), np.full(len(grid), l2), grid]))
        return np.concatenate(labels)

    def feature_names(self, key: tuple[int, int], species) -> list[str]:
        """Readable names such as ``'l1=0 l2=1 C n1=0 H n2=3'``."""
        return [f"l1={l1} l2={l2} {_chemical_symbol(z1)} n1={n1} {_chemical_symbol(z2)} n2={n2}"
                for l1, l2, z1, n1, z2, n2 in self.feature_labels(key, species).tolist()]

    # -- compute ------------------------------------------------------------------------------------
    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, selected_keys=None) -> dict[tuple[int, int], np.ndarray]:
        """The (λ, σ) blocks of every atom (rows by (structure, atom)) or of every structure
        (sums over its atoms); ``selected_samples`` as in :meth:`SphericalExpansion.compute`,
        ``selected_keys`` a subset of :meth:`keys`."""
        resolved, frames, species = prepare_call(self, frames, per, backend, species)
        pairs_by_key = self._pairs_by_key()
        keys = list(pairs_by_key) if selected_keys is None else [tuple(k) for k in selected_keys]
        unknown = [k for k in keys if k not in pairs_by_key]
        if unknown:
            raise ValueError(f"selected_keys {unknown} are not blocks of l_max={self.l_max}: choose among {list(pairs_by_key)}")
        if per == "structure" and selected_samples is not None:
            chosen = np.asarray(selected_samples, dtype=np.int64)
            frames = [frames[k] for k in chosen]
            selected_samples = None
        coefficients = self.expansion.compute(frames, per="atom", backend=resolved, species=species,
                                              selected_samples=selected_samples, return_device_array=True)
        xp = resolved.xp
        n_rows = coefficients.shape[0]
        wanted = {(l1, l2) for key in keys for l1, l2 in pairs_by_key[key]}
        parts: dict[tuple[int, int], list] = {key: [] for key in keys}
        for l1 in range(self.l_max + 1):
            for l2 in range(l1, self.l_max + 1):
                if (l1, l2) not in wanted:
                    continue
                c1 = coefficients[:, :, l1 * l1 : (l1 + 1) ** 2, :]
                c2 = coefficients[:, :, l2 * l2 : (l2 + 1) ** 2, :]
                # the outer product over (m1, m2) once per (l1, l2), then one small matrix
                # product per λ: p[i, μ, a1 n1 a2 n2] = Σ_{m1 m2} R[μ, m1 m2] c1[i, a1, m1, n1] c2[i, a2, m2, n2]
                outer = xp.einsum("iamn,ibvk->imvanbk", c1, c2).reshape(n_rows, (2 * l1 + 1) * (2 * l2 + 1), -1)
                for key in keys:
                    if (l1, l2) in pairs_by_key[key]:
                        coupling = xp.asarray(real_coupling(l1, l2, key[0])).reshape(2 * key[0] + 1, -1)
                        parts[key].append(xp.matmul(coupling, outer))
        # the columns of a block: its (l1, l2) pairs in increasing order, as feature_labels lists them
        blocks = {key: xp.concatenate(parts[key], axis=2) for key in keys}
        if per == "structure":  # sums: targets of equivariant models are sums of atomic terms
            blocks = {key: per_structure(xp, frames, block, mean=False) for key, block in blocks.items()}
        return {key: resolved.to_host(block) for key, block in blocks.items()}


def _row_chunks(frames, per: str, n_rows: int, rows_per_chunk: int):
    """Pieces of the per-atom rows to contract at once: ``(rows, frames)`` with ``rows`` a slice
    of the atom rows and, per structure, ``frames`` the whole structures those rows belong to
    (so each piece reduces to its own structures' rows and no per-atom array of the whole input
    is held); per atom, ``frames`` is None."""
    if per == "atom":
        for start in range(0, n_rows, rows_per_chunk):
            yield slice(start, min(start + rows_per_chunk, n_rows)), None
        return
    offsets = structure_offsets(frames)
    first = 0
    for last in range(1, len(frames) + 1):
        if last == len(frames) or offsets[last + 1] - offsets[first] > rows_per_chunk:
            yield slice(int(offsets[first]), int(offsets[last])), frames[first:last]
            first = last


def _coupled(c, pairs, lam: int, xp):
    """ν=2 features of degree λ of the (l1, l2) ``pairs`` from coefficients c[i, a, lm, n]: shape
    (rows, 2λ+1, Σ_pairs (species · n_max)²), columns (l1 l2, a1 n1, a2 n2) as
    :meth:`EquivariantPowerSpectrum.feature_labels` lists them."""
    n_rows, n_species, _, n_max = c.shape
    channels = n_species * n_max
    parts = []
    for l1, l2 in pairs:
        coupling = xp.asarray(real_coupling(l1, l2, lam))  # (2λ+1, 2l1+1, 2l2+1)
        c1 = c[:, :, l1 * l1 : (l1 + 1) ** 2, :].transpose(0, 1, 3, 2).reshape(n_rows, 1, channels, 2 * l1 + 1)
        c2 = c[:, :, l2 * l2 : (l2 + 1) ** 2, :]
        half = xp.einsum("umv,ibvk->iumbk", coupling, c2).reshape(n_rows, 2 * lam + 1, 2 * l1 + 1, channels)
        # batched BLAS: (a1 n1, m1) @ (m1, a2 n2) for every row and μ
        parts.append(xp.matmul(c1, half).reshape(n_rows, 2 * lam + 1, channels * channels))
    return parts[0] if len(parts) == 1 else xp.concatenate(parts, axis=2)


class LambdaSoapInvariants(OnExpansion):
    r"""The invariant block of λ-SOAP, (λ=0, σ=+1), as a 2-D feature matrix.

        p[i; l, a1 n1, a2 n2] = Σ_{m1 m2} R^{00}_{l m1, l m2} c[i; a1, l m1, n1] c[i; a2, l m2, n2],   l = 0 … l_max

    (only l1 = l2 = l couples to λ = 0; R^{00}_{l m1, l m2} = δ_{m1 m2} (−1)^l / √(2l+1)). The
    same numbers as ``EquivariantPowerSpectrum(...).compute(...)[(0, 1)][:, 0, :]`` with its
    columns (l1 = l2 = l, a1, n1, a2, n2): the SOAP power spectrum without its a ≤ b
    symmetrisation (both (a, b) and (b, a) are columns). Rows per atom, or per structure the
    **mean** of its atoms' rows, as :class:`SoapPowerSpectrum` (an invariant is used like it),
    not the sum of :class:`EquivariantPowerSpectrum`.

    Examples
    --------
    >>> from ase.build import molecule
    >>> inv = LambdaSoapInvariants(cutoff=4.0, n_max=2, l_max=1, density_width=0.35)
    >>> inv.compute(molecule("H2O"), backend="numpy").shape   # 2 l × (2 species · 2 n)²
    (3, 32)
    >>> inv.feature_names([1, 8])[1]
    'l1=0 l2=0 H n1=0 H n2=1'
    """

    EXTRA_HYPERS: tuple = ()

    def n_features(self, n_species: int) -> int:
        return (self.l_max + 1) * (n_species * self.n_max) ** 2

    def _layout(self) -> EquivariantPowerSpectrum:
        """The λ-SOAP calculator with these hyperparameters (for its column labels)."""
        return EquivariantPowerSpectrum(**{k: getattr(self, k) for k in OnExpansion._HYPERS})

    def feature_labels(self, species) -> np.ndarray:
        """Integer labels (l1, l2, species_1, n1, species_2, n2) of the columns (l1 = l2)."""
        return self._layout().feature_labels((0, 1), species)

    def feature_names(self, species) -> list[str]:
        return self._layout().feature_names((0, 1), species)

    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, dtype=np.float64, progress=None, rows_per_chunk: int = 1024) -> np.ndarray:
        """Rows of every atom (by (structure, atom)) or of every structure (means), shape
        (n_rows, n_features); arguments as in :meth:`SphericalExpansion.compute`."""
        return _invariant_rows(self, self._rows, frames, per, backend, species, selected_samples, dtype, progress,
                               rows_per_chunk)

    def _rows(self, c, xp):
        n_rows, n_species, _, n_max = c.shape
        channels = n_species * n_max
        columns = []
        for l in range(self.l_max + 1):
            coupling = xp.asarray(real_coupling(l, l, 0)[0])
            x = c[:, :, l * l : (l + 1) ** 2, :].transpose(0, 1, 3, 2).reshape(n_rows, channels, 2 * l + 1)
            columns.append((x @ coupling @ x.transpose(0, 2, 1)).reshape(n_rows, -1))
        return xp.concatenate(columns, axis=1)


def _invariant_rows(descriptor, contract, frames, per, backend, species, selected_samples, dtype, progress,
                    rows_per_chunk):
    """The rows of an invariant built on ``descriptor.expansion``, computed ``rows_per_chunk``
    atoms at a time: ``contract(c, xp)`` turns the density coefficients ``c`` of a chunk of atoms
    into their rows; per structure, each structure's mean row."""
    resolved, frames, species = prepare_call(descriptor, frames, per, backend, species)
    if per == "structure" and selected_samples is not None:
        frames = [frames[k] for k in np.asarray(selected_samples, dtype=np.int64)]
        selected_samples = None
    coefficients = descriptor.expansion.compute(frames, per="atom", backend=resolved, species=species,
                                                selected_samples=selected_samples, return_device_array=True,
                                                progress=progress)
    xp = resolved.xp
    n_atoms, n_species = coefficients.shape[:2]
    out = xp.empty((len(frames) if per == "structure" else n_atoms, descriptor.n_features(n_species)))
    done = 0
    for rows, chunk_frames in _row_chunks(frames, per, n_atoms, rows_per_chunk):
        values = contract(coefficients[rows], xp)  # (rows × (2l+1) × channels²) intermediates per chunk
        if chunk_frames is not None:
            values = per_structure(xp, chunk_frames, values, mean=True)
        out[done : done + len(values)] = values
        done += len(values)
    return resolved.to_host(out).astype(dtype, copy=False)


class SoapBispectrum(OnExpansion):
    r"""ν = 3 invariants (the SOAP bispectrum), built on :class:`SphericalExpansion`; optionally
    NICE-compressed (``compression=k``).

    For l1 ≤ l2 ≤ l3 with l1 + l2 + l3 even and |l1 − l2| ≤ l3 ≤ min(l1 + l2, l_max):

        b[i; l1 l2 l3, a1 n1, a2 n2, a3 n3] = Σ_{μ m3} R^{00}_{l3 μ, l3 m3}
            (Σ_{m1 m2} R^{l3 μ}_{l1 m1, l2 m2} c[a1, l1 m1, n1] c[a2, l2 m2, n2]) c[a3, l3 m3, n3]

    the (λ=0, σ=+1) block of featomic 0.6's ``clebsch_gordan.DensityCorrelations(n_correlations=2,
    max_angular=l_max)`` on the spherical expansion with neighbour types as properties,
    ``angular_cutoff=l_max`` (its ``skip_redundant`` keeps l1 ≤ l2 ≤ l3). Columns: the (l1, l2,
    l3) triples, each with every (a1, n1, a2, n2, a3, n3). Per structure: the mean over its atoms,
    as :class:`SoapPowerSpectrum` (an invariant, used like it).

    The number of columns grows as (species · n_max)³. ``compression=k`` bounds it as NICE does
    (Nigam, Pozdnyakov & Ceriotti, J. Chem. Phys. 153, 121101 (2020)): the ν=2 equivariants of
    each degree λ = l3 (the (l1, l2) pairs above, all (a1 n1 a2 n2)) are replaced by their ``k``
    principal components before the product with the third density,

        q[i; λ μ, j] = Σ_f p[i; λ μ, f] U_λ[f, j],    b̃[i; λ, j, a3 n3] = Σ_{μ m3} R^{00}_{λ μ, λ m3} q[i; λ μ, j] c[a3, λ m3, n3],

    U_λ the leading eigenvectors of Σ_{i, μ} p[i; λ μ]ᵀ p[i; λ μ] over the atoms given to
    :meth:`fit` (uncentred: a mean of λ > 0 features is not invariant). One U_λ for all μ keeps
    b̃ invariant; the fitted matrix is itself independent of the orientation of the training
    structures. Columns: Σ_λ min(k, F_λ) · species · n_max, F_λ = (pairs of λ) · (species · n_max)²;
    with k ≥ every F_λ, b̃ is an orthogonal transformation of b (equal Gram matrices).

    Examples
    --------
    >>> from ase.build import molecule
    >>> b3 = SoapBispectrum(cutoff=4.0, n_max=2, l_max=1, density_width=0.35)
    >>> b3.compute(molecule("H2O"), backend="numpy").shape  # (0 0 0), (0 1 1): 2 × (2·2)³
    (3, 128)
    >>> nice = SoapBispectrum(cutoff=4.0, n_max=2, l_max=1, density_width=0.35, compression=3)
    >>> nice.fit(molecule("H2O"), backend="numpy").compute(molecule("H2O"), backend="numpy").shape  # (3 + 3) × 2·2
    (3, 24)
    """

    #: (name, label, min, max, step, default) of each hyperparameter beyond the common SOAP ones;
    #: compression 0 (the default) means none
    EXTRA_HYPERS: tuple = (("compression", "NICE compression k (0: none)", 0, 4096, 1, 0),)

    def __init__(self, cutoff: float = 5.0, n_max: int = 4, l_max: int = 3, density_width: float = 0.3,
                 smoothing_width: float = 0.5, center_weight: float = 1.0, species: Sequence[int] | None = None,
                 compression: int | None = None):
        # smaller defaults than the power spectrum's: the columns grow as (species · n_max)³
        super().__init__(cutoff, n_max, l_max, density_width, smoothing_width, center_weight, species)
        if compression is not None and (isinstance(compression, bool) or int(compression) != compression or compression < 0):
            raise ValueError(f"compression={compression!r}: must be a whole number of components (0 or None: no compression)")
        self.compression = int(compression) if compression else None
        self.projections_: dict[int, np.ndarray] | None = None  # λ -> U_λ (F_λ, k_λ), set by fit
        self.eigenvalues_: dict[int, np.ndarray] | None = None  # λ -> every eigenvalue, descending
        self.fitted_species_: np.ndarray | None = None

    def __repr__(self) -> str:
        text = super().__repr__()
        return text if self.compression is None else text[:-1] + f", compression={self.compression})"

    @property
    def needs_fit(self) -> bool:
        """True for a compressed descriptor not fitted yet: call :meth:`fit` before :meth:`compute`."""
        return self.compression is not None and self.projections_ is None

    def triples(self) -> list[tuple[int, int, int]]:
        """The (l1, l2, l3) of the columns, in order."""
        return [(l1, l2, l3) for l1 in range(self.l_max + 1) for l2 in range(l1, self.l_max + 1)
                for l3 in range(l2, self.l_max + 1) if (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2]

    def compressed_blocks(self) -> list[tuple[int, list[tuple[int, int]]]]:
        """(λ, its (l1, l2) pairs) of the ν=2 blocks that the compression acts on: λ = l3 of
        :meth:`triples`, the pairs those triples hold (every l1 ≤ l2 ≤ λ ≤ l1 + l2, l1 + l2 + λ even)."""
        return [(lam, [(l1, l2) for l1, l2, l3 in self.triples() if l3 == lam]) for lam in range(self.l_max + 1)]

    def _block_widths(self, n_species: int) -> list[tuple[int, int]]:
        """(F_λ, kept components k_λ = min(k, F_λ)) of each compressed block."""
        channels = n_species * self.n_max
        widths = [len(pairs) * channels * channels for _, pairs in self.compressed_blocks()]
        return [(width, min(self.compression, width)) for width in widths]

    def n_features(self, n_species: int) -> int:
        if self.compression is None:
            return len(self.triples()) * (n_species * self.n_max) ** 3
        return sum(kept for _, kept in self._block_widths(n_species)) * n_species * self.n_max

    def feature_names(self, species) -> list[str]:
        species = [_chemical_symbol(int(z)) for z in sorted(int(z) for z in species)]
        channels = [(s, n) for s in species for n in range(self.n_max)]
        if self.compression is not None:  # (λ, component j, a3, n3)
            return [f"λ={lam} pc{j} {s3} n3={n3}" for (lam, _), (_, kept) in zip(self.compressed_blocks(), self._block_widths(len(species)))
                    for j in range(kept) for s3, n3 in channels]
        return [f"l={l1},{l2},{l3} {s1} n1={n1} {s2} n2={n2} {s3} n3={n3}" for l1, l2, l3 in self.triples()
                for s1, n1 in channels for s2, n2 in channels for s3, n3 in channels]

    def species_for(self, frames) -> np.ndarray:
        """The fitted species once fitted (the projections are defined on their columns)."""
        if self.fitted_species_ is not None:
            return self.fitted_species_.copy()
        return super().species_for(frames)

    # -- fit (compression only) ---------------------------------------------------------------------
    def fit(self, frames, backend: str = "auto", *, species: Sequence[int] | None = None, selected_samples=None,
            progress=None, rows_per_chunk: int = 256) -> "SoapBispectrum":
        """Learn U_λ, the ``compression`` leading principal directions of each ν=2 block, from
        the atoms of ``frames`` (``selected_samples``: only these atom rows). Without compression
        there is nothing to learn and this returns at once. Returns ``self``."""
        if self.compression is None:
            return self
        # the species of these frames (or those given), not those of an earlier fit
        resolved, frames, species = prepare_call(self.expansion, frames, "atom", backend, species)
        coefficients = self.expansion.compute(frames, per="atom", backend=resolved, species=species,
                                              selected_samples=selected_samples, return_device_array=True, progress=progress)
        xp = resolved.xp
        n_atoms = coefficients.shape[0]
        blocks = self.compressed_blocks()
        widths = self._block_widths(len(species))
        scatter = [xp.zeros((width, width)) for width, _ in widths]
        for rows, _ in _row_chunks(frames, "atom", n_atoms, rows_per_chunk):
            for (lam, pairs), total in zip(blocks, scatter):
                p = _coupled(coefficients[rows], pairs, lam, xp).reshape(-1, total.shape[0])
                total += p.T @ p  # summed over μ too: a rotation mixes μ orthogonally, this stays
        projections, eigenvalues = {}, {}
        for (lam, _), total, (_, kept) in zip(blocks, scatter, widths):
            values, vectors = np.linalg.eigh(resolved.to_host(total))
            order = np.argsort(values)[::-1]
            values, vectors = values[order], vectors[:, order[:kept]]
            # a reproducible sign per component (its largest entry positive)
            vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(kept)])
            projections[lam], eigenvalues[lam] = vectors, np.clip(values, 0.0, None)
        self.projections_, self.eigenvalues_, self.fitted_species_ = projections, eigenvalues, species
        return self

    # -- compute ------------------------------------------------------------------------------------
    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, dtype=np.float64, progress=None, rows_per_chunk: int = 256) -> np.ndarray:
        """The invariants of every atom (rows by (structure, atom)) or structure (means);
        ``selected_samples``, ``dtype`` and ``progress`` as in :meth:`SphericalExpansion.compute`.
        A compressed descriptor must be fitted first (:meth:`fit`)."""
        if self.needs_fit:
            raise ValueError(f"SoapBispectrum(compression={self.compression}) is not fitted: call fit(frames) first, "
                             "which learns the compressed combinations of each λ block from those structures")
        if self.compression is not None and species is not None and \
                sorted({int(z) for z in species}) != self.fitted_species_.tolist():
            raise ValueError(f"species={sorted({int(z) for z in species})}: this compression was fitted on "
                             f"species {self.fitted_species_.tolist()}; fit again to change them")
        contract = self._full_rows if self.compression is None else self._compressed_rows
        return _invariant_rows(self, contract, frames, per, backend, species, selected_samples, dtype, progress,
                               rows_per_chunk)

    def _full_rows(self, c, xp):
        n_rows, n_species, _, n_max = c.shape
        channels = n_species * n_max
        columns = []
        for l1, l2, l3 in self.triples():
            coupling, invariant = xp.asarray(real_coupling(l1, l2, l3)), xp.asarray(real_coupling(l3, l3, 0)[0])
            c1, c2, c3 = (c[:, :, l * l : (l + 1) ** 2, :] for l in (l1, l2, l3))
            half = xp.einsum("umv,ibvk->iumbk", coupling, c2)
            pair = xp.einsum("iamn,iumbk->iuanbk", c1, half)  # (c ⊗ c) coupled to degree l3
            third = xp.einsum("ux,icxp->iucp", invariant, c3)  # R^{00} applied to the third density
            columns.append(xp.einsum("iuanbk,iucp->ianbkcp", pair, third).reshape(n_rows, channels ** 3))
        return xp.concatenate(columns, axis=1)

    def _compressed_rows(self, c, xp):
        n_rows, n_species, _, n_max = c.shape
        columns = []
        for lam, pairs in self.compressed_blocks():
            projection = xp.asarray(self.projections_[lam])
            p = _coupled(c, pairs, lam, xp)
            # one GEMM over (rows · μ): a (rows, 2λ+1, F) @ (F, k) matmul would be rows small ones
            q = (p.reshape(-1, p.shape[2]) @ projection).reshape(n_rows, 2 * lam + 1, -1)  # (rows, 2λ+1, k_λ)
            invariant = xp.asarray(real_coupling(lam, lam, 0)[0])
            third = xp.einsum("ux,icxp->iucp", invariant, c[:, :, lam * lam : (lam + 1) ** 2, :]).reshape(n_rows, 2 * lam + 1, -1)
            columns.append(xp.matmul(q.transpose(0, 2, 1), third).reshape(n_rows, -1))  # Σ_μ: (rows, k_λ, a3 n3)
        return xp.concatenate(columns, axis=1)
