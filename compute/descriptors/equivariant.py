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


class SoapBispectrum(OnExpansion):
    r"""ν = 3 invariants (the SOAP bispectrum), built on :class:`SphericalExpansion`.

    For l1 ≤ l2 ≤ l3 with l1 + l2 + l3 even and |l1 − l2| ≤ l3 ≤ min(l1 + l2, l_max):

        b[i; l1 l2 l3, a1 n1, a2 n2, a3 n3] = Σ_{μ m3} R^{00}_{l3 μ, l3 m3}
            (Σ_{m1 m2} R^{l3 μ}_{l1 m1, l2 m2} c[a1, l1 m1, n1] c[a2, l2 m2, n2]) c[a3, l3 m3, n3]

    the (λ=0, σ=+1) block of featomic 0.6's ``clebsch_gordan.DensityCorrelations(n_correlations=2,
    max_angular=l_max)`` on the spherical expansion with neighbour types as properties,
    ``angular_cutoff=l_max`` (its ``skip_redundant`` keeps l1 ≤ l2 ≤ l3). Columns: the (l1, l2,
    l3) triples, each with every (a1, n1, a2, n2, a3, n3). Per structure: the mean over its atoms,
    as :class:`SoapPowerSpectrum` (an invariant, used like it).

    The number of columns grows as (species · n_max)³: keep n_max small, or select columns.

    Examples
    --------
    >>> from ase.build import molecule
    >>> b3 = SoapBispectrum(cutoff=4.0, n_max=2, l_max=1, density_width=0.35)
    >>> b3.compute(molecule("H2O"), backend="numpy").shape  # (0 0 0), (0 1 1): 2 × (2·2)³
    (3, 128)
    """

    def __init__(self, cutoff: float = 5.0, n_max: int = 4, l_max: int = 3, density_width: float = 0.3,
                 smoothing_width: float = 0.5, center_weight: float = 1.0, species: Sequence[int] | None = None):
        # smaller defaults than the power spectrum's: the columns grow as (species · n_max)³
        super().__init__(cutoff, n_max, l_max, density_width, smoothing_width, center_weight, species)

    def triples(self) -> list[tuple[int, int, int]]:
        """The (l1, l2, l3) of the columns, in order."""
        return [(l1, l2, l3) for l1 in range(self.l_max + 1) for l2 in range(l1, self.l_max + 1)
                for l3 in range(l2, self.l_max + 1) if (l1 + l2 + l3) % 2 == 0 and abs(l1 - l2) <= l3 <= l1 + l2]

    def n_features(self, n_species: int) -> int:
        return len(self.triples()) * (n_species * self.n_max) ** 3

    def feature_names(self, species) -> list[str]:
        species = [_chemical_symbol(int(z)) for z in sorted(int(z) for z in species)]
        channels = [(s, n) for s in species for n in range(self.n_max)]
        return [f"l={l1},{l2},{l3} {s1} n1={n1} {s2} n2={n2} {s3} n3={n3}" for l1, l2, l3 in self.triples()
                for s1, n1 in channels for s2, n2 in channels for s3, n3 in channels]

    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, dtype=np.float64, progress=None, rows_per_chunk: int = 256) -> np.ndarray:
        """The invariants of every atom (rows by (structure, atom)) or structure (means);
        ``selected_samples``, ``dtype`` and ``progress`` as in :meth:`SphericalExpansion.compute`."""
        resolved, frames, species = prepare_call(self, frames, per, backend, species)
        if per == "structure" and selected_samples is not None:
            frames = [frames[k] for k in np.asarray(selected_samples, dtype=np.int64)]
            selected_samples = None
        coefficients = self.expansion.compute(frames, per="atom", backend=resolved, species=species,
                                              selected_samples=selected_samples, return_device_array=True, progress=progress)
        xp = resolved.xp
        n_rows, n_species, _, n_max = coefficients.shape
        channels = n_species * n_max
        couplings = [(xp.asarray(real_coupling(l1, l2, l3)), xp.asarray(real_coupling(l3, l3, 0)[0])) for l1, l2, l3 in self.triples()]
        out = xp.empty((n_rows, self.n_features(n_species)))
        for start in range(0, n_rows, rows_per_chunk):  # (rows × (2l+1) × channels²) intermediates per chunk
            c = coefficients[start : start + rows_per_chunk]
            columns = []
            for (l1, l2, l3), (coupling, invariant) in zip(self.triples(), couplings):
                c1, c2, c3 = (c[:, :, l * l : (l + 1) ** 2, :] for l in (l1, l2, l3))
                half = xp.einsum("umv,ibvk->iumbk", coupling, c2)
                pair = xp.einsum("iamn,iumbk->iuanbk", c1, half)  # (c ⊗ c) coupled to degree l3
                third = xp.einsum("ux,icxp->iucp", invariant, c3)  # R^{00} applied to the third density
                columns.append(xp.einsum("iuanbk,iucp->ianbkcp", pair, third).reshape(len(c), channels ** 3))
            out[start : start + len(c)] = xp.concatenate(columns, axis=1)
        if per == "structure":
            out = per_structure(xp, frames, out, mean=True)
        return resolved.to_host(out).astype(dtype, copy=False)
