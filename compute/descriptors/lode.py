r"""LODE (long-distance equivariants): the expansion of each atom's long-range potential, and the
multi-scale invariants that couple it to the SOAP density. featomic 0.6's definitions (see
docs/descriptors.md, "LODE").

Every atom j carries a smeared power-law potential φ(r) ~ 1/r^p (smearing σ, exponent p; p = 1 is
a smeared Coulomb potential). The potential of the whole periodic structure around centre i,
V_a(r_i + x) = Σ_{j of species a, all images} φ(x + r_i − r_j), is projected on orthonormal GTOs
R_n (of ``radius``) and real spherical harmonics Y_lm. In reciprocal space (half of the k-vectors
0 < |k| < k_cutoff; k and −k give complex-conjugate terms):

    c[i; a, lm, n] = (4π/V) Σ_k 2 i^l φ̃(k) I_nl(k) Y_lm(k̂) S_a(i, k),
    S_a(i, k) = Σ_{j of a} cos k·(r_i − r_j)  (l even)   or   Σ_{j of a} sin k·(r_i − r_j)  (l odd)

with i^l taken as (−1)^(l/2) for even l and (−1)^((l+1)/2) (the i of the sine folded in) for odd
l. The j = i term is part of the sum (the centre's own potential, featomic's
``center_atom_weight = 1``); ``center_weight = w`` removes (1 − w) of it again, computed in real
space. For p = 0 and p > 3 a k = 0 term is added to l = 0 (for p = 1, 2, 3 it is omitted, the
usual neutralising background).

The k-sum of a structure is one matrix product [cos k·r_i | sin k·r_i] @ M (M: the structure
factors of each species times the k-space weights), so the NumPy/BLAS code is the CPU path for both
"numpy" and "numba" (no Numba kernel: BLAS already does the work); "cupy" runs it on the GPU.
"""

from __future__ import annotations

import contextlib
import functools
import math
from typing import Sequence

import numpy as np

from ._lode_radial import center_contribution, density_fourier, k0_factor, lode_radial_splines, radial_at_zero
from ._spherical import power_spectrum, real_spherical_harmonics
from .soap import SoapPowerSpectrum, SphericalExpansion, _as_frames, _chemical_symbol, _ExpansionCalculator, per_structure, prepare_call

#: below this many multiply-adds a structure's k-sum runs on one BLAS thread: the products are
#: small and OpenBLAS's threading cost more than it saved (measured: 4-10x slower on 2 busy cores)
_THREADED_BLAS_FLOPS = 2e8


@functools.lru_cache(maxsize=1)
def _blas_controller():
    try:  # threadpoolctl comes with scikit-learn, a dependency of the project
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController()
    except ImportError:  # pragma: no cover - then BLAS keeps its own thread count
        return None


def _blas_threads_for(flops: float, on_gpu: bool):
    """One BLAS thread for a small product on the CPU, the library's default otherwise."""
    controller = _blas_controller()
    if on_gpu or controller is None or flops >= _THREADED_BLAS_FLOPS:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")

def reciprocal_vectors(cell: np.ndarray, k_cutoff: float) -> np.ndarray:
    """k-vectors of half of reciprocal space (one of each ±k pair), 0 < |k| < k_cutoff, shape (K, 3).

    Lattice points n1 b1 + n2 b2 + n3 b3 with |n_i| ≤ k_cutoff |a_i| / 2π (the distance between
    reciprocal lattice planes along b_i is 2π / |a_i|); the half kept is n1 > 0, or n1 = 0 and n2 > 0,
    or n1 = n2 = 0 and n3 > 0.
    """
    cell = np.asarray(cell, dtype=np.float64)
    reciprocal = 2 * math.pi * np.linalg.inv(cell).T  # rows b_i, a_i · b_j = 2π δ_ij
    bounds = [int(math.ceil(k_cutoff * np.linalg.norm(a) / (2 * math.pi))) for a in cell]
    axes = [np.arange(-b, b + 1) for b in bounds]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    n1, n2, n3 = grid.T
    half = (n1 > 0) | ((n1 == 0) & (n2 > 0)) | ((n1 == 0) & (n2 == 0) & (n3 > 0))
    k = grid[half] @ reciprocal
    return k[np.einsum("kx,kx->k", k, k) < k_cutoff * k_cutoff]


class LodeSphericalExpansion:
    """LODE coefficients: ``compute`` returns ``{(λ, 1): ndarray (n_rows, 2λ+1, n_species · n_max)}``.

    Equal to ``featomic.LodeSphericalExpansion(density={"type": "SmearedPowerLaw", "smearing":
    smearing, "exponent": exponent, "center_atom_weight": center_weight}, basis={"type":
    "TensorProduct", "max_angular": l_max, "radial": {"type": "Gto", "max_radial": n_max - 1,
    "radius": radius}}, k_cutoff=k_cutoff)``, with all centre species in one array and the
    neighbour species moved to the columns (species by atomic number, then n). Rows: atoms by
    (structure, atom), or per structure the **mean** of its atoms' rows (as
    :class:`SphericalExpansion`). Only 3-D periodic structures: the potential is a lattice sum.

    Examples
    --------
    >>> from ase.build import bulk
    >>> lode = LodeSphericalExpansion(smearing=1.0, l_max=1, n_max=2, radius=3.0)
    >>> blocks = lode.compute(bulk("NaCl", "rocksalt", a=5.6), backend="numpy")
    >>> sorted(blocks), blocks[(1, 1)].shape   # 2 atoms, μ = -1, 0, 1, 2 species × 2 n
    ([(0, 1), (1, 1)], (2, 3, 4))
    """

    def __init__(self, smearing: float = 1.0, exponent: int = 1, l_max: int = 3, n_max: int = 5, radius: float = 5.0,
                 k_cutoff: float | None = None, center_weight: float = 1.0, species: Sequence[int] | None = None):
        self.smearing = smearing
        self.exponent = exponent
        self.l_max = l_max
        self.n_max = n_max
        self.radius = radius
        self.k_cutoff = k_cutoff
        self.center_weight = center_weight
        self.species = species
        self._check_hypers()

    def _check_hypers(self) -> None:
        def require(condition, parameter, message):
            if not condition:
                raise ValueError(f"{parameter}={getattr(self, parameter)!r}: {message}")

        require(math.isfinite(self.smearing) and self.smearing > 0, "smearing", "must be a positive width in Å")
        require(int(self.exponent) == self.exponent and 0 <= self.exponent <= 9, "exponent",
                "must be an integer in 0…9 (the power p of 1/r^p)")
        require(int(self.n_max) == self.n_max and 1 <= self.n_max <= 32, "n_max", "must be an integer in 1…32")
        require(int(self.l_max) == self.l_max and 0 <= self.l_max <= 16, "l_max", "must be an integer in 0…16")
        require(math.isfinite(self.radius) and self.radius > 0, "radius", "must be a positive distance in Å")
        require(self.k_cutoff is None or (math.isfinite(self.k_cutoff) and self.k_cutoff > 0), "k_cutoff",
                "must be a positive wave number in 1/Å (or None: 1.2π / smearing)")
        require(math.isfinite(self.center_weight), "center_weight", "must be a finite number")
        self.exponent, self.n_max, self.l_max = int(self.exponent), int(self.n_max), int(self.l_max)

    @property
    def effective_k_cutoff(self) -> float:
        """``k_cutoff``, or featomic's default 1.2π / smearing."""
        return float(self.k_cutoff) if self.k_cutoff is not None else 1.2 * math.pi / float(self.smearing)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={getattr(self, k)!r}" for k in
                           ("smearing", "exponent", "l_max", "n_max", "radius", "k_cutoff", "center_weight", "species"))
        return f"{type(self).__name__}({params})"

    def keys(self) -> list[tuple[int, int]]:
        return [(lam, 1) for lam in range(self.l_max + 1)]

    def species_for(self, frames) -> np.ndarray:
        if self.species is not None:
            return np.array(sorted({int(z) for z in self.species}), dtype=np.int64)
        return np.unique(np.concatenate([atoms.numbers for atoms in _as_frames(frames)])).astype(np.int64)

    def feature_labels(self, species) -> np.ndarray:
        """Integer labels (neighbour species, n) of every column, shape (n_species · n_max, 2)."""
        species = np.array(sorted(int(z) for z in species))
        return np.stack([np.repeat(species, self.n_max), np.tile(np.arange(self.n_max), len(species))], axis=1)

    def feature_names(self, species) -> list[str]:
        return [f"{_chemical_symbol(z)} n={n}" for z, n in self.feature_labels(species).tolist()]

    # -- compute ------------------------------------------------------------------------------------
    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None) -> dict[tuple[int, int], np.ndarray]:
        """The (λ, 1) blocks of every atom or of every structure (means); ``selected_samples`` as
        in :meth:`SphericalExpansion.compute` (atom rows, or structure rows per structure)."""
        coefficients, _ = self.coefficients(frames, per, backend, species=species, selected_samples=selected_samples)
        n_rows, n_species = coefficients.shape[:2]
        blocks = {}
        for lam in range(self.l_max + 1):
            block = coefficients[:, :, lam * lam : (lam + 1) ** 2, :].transpose(0, 2, 1, 3)
            blocks[(lam, 1)] = np.ascontiguousarray(block.reshape(n_rows, 2 * lam + 1, n_species * self.n_max))
        return blocks

    def coefficients(self, frames, per: str = "atom", backend: str = "auto", *, species=None, selected_samples=None,
                     return_device_array: bool = False):
        """c[row, a, lm, n] as one array, shape (n_rows, n_species, (l_max+1)², n_max) (the layout of
        :class:`SphericalExpansion`), and the species of the columns."""
        resolved, frames, species = prepare_call(self, frames, per, backend, species)
        xp = resolved.xp
        frames, visited, centres_of, inverse = _ExpansionCalculator._select(frames, per, selected_samples)
        self._check_frames(frames, species, visited)
        n_lm = (self.l_max + 1) ** 2
        parts = []
        for k, atoms in enumerate(frames):
            centres = np.arange(len(atoms)) if centres_of is None else np.asarray(centres_of[k])
            c = self._structure(atoms, centres, species, xp)
            parts.append(c.mean(axis=0, keepdims=True) if per == "structure" else c)
        out = xp.concatenate(parts) if parts else xp.zeros((0, len(species), n_lm, self.n_max))
        if inverse is not None:
            out = out[xp.asarray(inverse)]
        return (out if return_device_array else resolved.to_host(out)), species

    def _check_frames(self, frames, species, numbers=None) -> None:
        allowed = set(species.tolist())
        for position, atoms in enumerate(frames):
            k = position if numbers is None else int(numbers[position])
            if len(atoms) == 0:
                raise ValueError(f"frame {k} has no atoms")
            pbc = np.asarray(atoms.pbc, dtype=bool)
            if not pbc.all():
                raise ValueError(
                    f"frame {k} is not periodic in every direction (pbc={pbc.tolist()}): LODE sums the potential "
                    "over a 3-D lattice and only takes fully periodic structures"
                )
            volume = abs(float(np.linalg.det(np.asarray(atoms.cell.array, dtype=float))))
            if not volume > 1e-8:
                raise ValueError(f"frame {k} has a degenerate cell (volume {volume:g} Å³): LODE needs a 3-D cell")
            unknown = set(np.unique(atoms.numbers).tolist()) - allowed
            if unknown:
                names = ", ".join(_chemical_symbol(z) for z in sorted(unknown))
                raise ValueError(f"frame {k} contains {names}, not in species={[int(z) for z in species]}: "
                                 "add these elements to `species` or leave it unset")
            if not np.all(np.isfinite(atoms.positions)):
                raise ValueError(f"frame {k} has NaN or infinite positions")

    def _k_space_weights(self, k_vectors: np.ndarray, volume: float) -> list[np.ndarray]:
        """W_l[k, m, n] = (4π/V) · 2 · phase_l · φ̃(k) · Y_lm(k̂) · I_nl(|k|), one (K, (2l+1)·n_max) matrix per l.

        The factor 2 stands for the −k half left out; phase_l = i^l, with for odd l the i of
        the sine (S_a uses sin k·(r_i − r_j)) folded in: (−1)^(l/2) for even l, (−1)^((l+1)/2) for odd.
        """
        norms = np.linalg.norm(k_vectors, axis=1)
        splines = lode_radial_splines(float(self.radius), self.n_max, self.l_max, self.effective_k_cutoff)
        radial = splines.evaluate(norms).reshape(-1, self.l_max + 1, self.n_max)
        harmonics = real_spherical_harmonics(k_vectors / norms[:, None], self.l_max)
        prefactor = 4 * math.pi / volume * 2 * density_fourier(norms, float(self.smearing), self.exponent)
        weights = []
        for l in range(self.l_max + 1):
            phase = (-1.0) ** (l // 2) if l % 2 == 0 else (-1.0) ** ((l + 1) // 2)
            y = harmonics[:, l * l : (l + 1) ** 2]
            weights.append((phase * prefactor[:, None, None] * y[:, :, None] * radial[:, l, None, :]).reshape(len(norms), -1))
        return weights

    def _structure(self, atoms, centres: np.ndarray, species: np.ndarray, xp):
        """c[centre, a, lm, n] of one structure, shape (len(centres), n_species, (l_max+1)², n_max)."""
        cell = np.asarray(atoms.cell.array, dtype=np.float64)
        volume = abs(float(np.linalg.det(cell)))
        k_vectors = reciprocal_vectors(cell, self.effective_k_cutoff)
        if len(k_vectors) == 0:
            raise ValueError(
                f"no reciprocal vector shorter than k_cutoff={self.effective_k_cutoff:.4g} 1/Å in a cell of "
                f"{volume:.4g} Å³: raise k_cutoff or lower the smearing"
            )
        n_species, n_max, l_max = len(species), self.n_max, self.l_max
        n_lm = (l_max + 1) ** 2
        species_index = np.searchsorted(species, atoms.numbers)
        # only the species of this structure have non-zero columns
        present = np.unique(species_index)
        local_index = np.searchsorted(present, species_index)
        weights = self._k_space_weights(k_vectors, volume)
        n_k = len(k_vectors)
        phases = xp.asarray(np.asarray(atoms.positions, dtype=np.float64)) @ xp.asarray(k_vectors).T
        cos, sin = xp.cos(phases), xp.sin(phases)  # e^{i k·r_j}, (n_atoms, K)
        one_hot = xp.asarray((local_index[None, :] == np.arange(len(present))[:, None]).astype(np.float64))
        cos_sum, sin_sum = one_hot @ cos, one_hot @ sin  # Σ_{j of a} e^{i k·r_j}, (n_present, K)
        # With C_a = Σ_j cos k·r_j and S_a = Σ_j sin k·r_j, the subtraction formulas give
        #   Σ_j cos k·(r_i − r_j) = cos_i C_a + sin_i S_a,   Σ_j sin k·(r_i − r_j) = sin_i C_a − cos_i S_a,
        # so every coefficient is one matrix product [cos_i | sin_i] (2K) @ M (2K, columns), M
        # stacking C_a W_l and S_a W_l: no (centres × species × K) intermediate is formed.
        blocks = []
        for l in range(l_max + 1):
            w = xp.asarray(weights[l])  # (K, (2l+1)·n)
            cw = (cos_sum.T[:, :, None] * w[:, None, :]).reshape(n_k, -1)
            sw = (sin_sum.T[:, :, None] * w[:, None, :]).reshape(n_k, -1)
            blocks.append(xp.concatenate([cw, sw]) if l % 2 == 0 else xp.concatenate([-sw, cw]))
        matrix = xp.concatenate(blocks, axis=1)  # (2K, Σ_l n_present·(2l+1)·n)
        trig = xp.concatenate([cos[xp.asarray(centres)], sin[xp.asarray(centres)]], axis=1)
        with _blas_threads_for(float(trig.shape[0]) * trig.shape[1] * matrix.shape[1], xp is not np):
            values = trig @ matrix

        out = xp.zeros((len(centres), n_species, n_lm, n_max))
        column = 0
        target = xp.asarray(present)
        for l in range(l_max + 1):
            width = len(present) * (2 * l + 1) * n_max
            part = values[:, column : column + width].reshape(len(centres), len(present), 2 * l + 1, n_max)
            out[:, target, l * l : (l + 1) ** 2, :] = part
            column += width

        factor = k0_factor(float(self.smearing), self.exponent)
        if factor != 0.0:  # the k = 0 term: one per atom of each species, l = 0 only
            counts = np.bincount(species_index, minlength=n_species).astype(np.float64)
            term = 4 * math.pi / volume * factor * np.outer(counts, radial_at_zero(float(self.radius), n_max))
            out[:, :, 0, :] += xp.asarray(term)[None]
        if self.center_weight != 1.0:  # the centre's own potential was counted with weight 1
            own = (1.0 - self.center_weight) * center_contribution(float(self.smearing), self.exponent, float(self.radius), n_max)
            out[xp.arange(len(centres)), xp.asarray(species_index[centres]), 0, :] -= xp.asarray(own)[None]
        return out


class LodePowerSpectrum:
    r"""Multi-scale invariants coupling the SOAP density and the LODE potential (λ = 0).

        p[i; l, a n1, b n2] = (−1)^l / √(2l+1) · Σ_m c_SOAP[i; a, lm, n1] · c_LODE[i; b, lm, n2]

    for l = 0 … l_max, every (a, n1) of the density and (b, n2) of the potential (no symmetry
    between them). This is the (λ=0, σ=+1) block of featomic 0.6's
    ``clebsch_gordan.EquivariantPowerSpectrum(SphericalExpansion(...), LodeSphericalExpansion(...))``
    (the ρ ⊗ V invariants of Grisafi & Ceriotti, J. Chem. Phys. 151, 204105 (2019)). Columns
    (l, a, n1, b, n2); rows per atom, or per structure the mean (as :class:`SoapPowerSpectrum`).

    SOAP hyperparameters as :class:`SphericalExpansion`; LODE ones: ``smearing``, ``exponent``,
    ``radius`` (default ``cutoff``), ``lode_n_max`` (default ``n_max``), ``k_cutoff``; both share
    ``l_max``.
    """

    def __init__(self, cutoff: float = 5.0, n_max: int = 4, l_max: int = 3, density_width: float = 0.3,
                 smoothing_width: float = 0.5, center_weight: float = 1.0, smearing: float = 1.0, exponent: int = 1,
                 radius: float | None = None, lode_n_max: int | None = None, k_cutoff: float | None = None,
                 species: Sequence[int] | None = None):
        self.density = SphericalExpansion(cutoff=cutoff, n_max=n_max, l_max=l_max, density_width=density_width,
                                          smoothing_width=smoothing_width, center_weight=center_weight, species=species)
        self.potential = LodeSphericalExpansion(smearing=smearing, exponent=exponent, l_max=l_max,
                                                n_max=n_max if lode_n_max is None else lode_n_max,
                                                radius=cutoff if radius is None else radius, k_cutoff=k_cutoff,
                                                species=species)
        self.l_max = self.density.l_max
        self.species = species

    #: (name, label, min, max, step, default) of the hyperparameters beyond the common SOAP ones
    #: that an input form offers (``radius``, ``lode_n_max`` and ``k_cutoff`` default to values
    #: derived from the others and are left to code)
    EXTRA_HYPERS: tuple = (("smearing", "LODE smearing (Å)", 0.3, 5.0, 0.1, 1.0),
                           ("exponent", "LODE exponent p (1: Coulomb)", 0, 6, 1, 1))

    # the hyperparameters, read from the two expansions (as the other descriptors have them)
    cutoff = property(lambda self: self.density.cutoff)
    n_max = property(lambda self: self.density.n_max)
    density_width = property(lambda self: self.density.density_width)
    smoothing_width = property(lambda self: self.density.smoothing_width)
    center_weight = property(lambda self: self.density.center_weight)
    smearing = property(lambda self: self.potential.smearing)
    exponent = property(lambda self: self.potential.exponent)
    radius = property(lambda self: self.potential.radius)
    lode_n_max = property(lambda self: self.potential.n_max)
    k_cutoff = property(lambda self: self.potential.k_cutoff)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(density={self.density!r}, potential={self.potential!r})"

    def species_for(self, frames) -> np.ndarray:
        return self.potential.species_for(frames)

    def n_features(self, n_species: int) -> int:
        return (self.l_max + 1) * n_species * self.density.n_max * n_species * self.potential.n_max

    def feature_labels(self, species) -> np.ndarray:
        """Integer labels (l, species_a, n1, species_b, n2) of every column."""
        return self._cross_labels(species)

    def _cross_labels(self, species) -> np.ndarray:
        species = np.array(sorted(int(z) for z in species))
        grid = np.stack(np.meshgrid(np.arange(self.l_max + 1), species, np.arange(self.density.n_max), species,
                                    np.arange(self.potential.n_max), indexing="ij"), axis=-1)
        return grid.reshape(-1, 5)

    def feature_names(self, species) -> list[str]:
        return [f"l={l} {_chemical_symbol(za)} n1={n1} {_chemical_symbol(zb)} n2={n2} (LODE)"
                for l, za, n1, zb, n2 in self._cross_labels(species).tolist()]

    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, dtype=np.float64, progress=None) -> np.ndarray:
        """Rows of every atom (by (structure, atom)) or structure (means), shape (n_rows, n_features)."""
        resolved, frames, soap, lode = self._both_expansions(frames, per, backend, species, selected_samples, progress)
        out = self._cross(soap, lode, resolved.xp)
        if per == "structure":
            out = per_structure(resolved.xp, frames, out, mean=True)
        return resolved.to_host(out).astype(dtype, copy=False)

    def _both_expansions(self, frames, per, backend, species, selected_samples, progress):
        """The backend, the frames whose atoms are the rows, and the per-atom SOAP and LODE
        coefficients of those atoms (device arrays)."""
        resolved, frames, species = prepare_call(self, frames, per, backend, species)
        if per == "structure" and selected_samples is not None:
            frames = [frames[k] for k in np.asarray(selected_samples, dtype=np.int64)]
            selected_samples = None
        # the potential first: it refuses non-periodic frames before any SOAP work is done
        lode, _ = self.potential.coefficients(frames, "atom", resolved, species=species,
                                              selected_samples=selected_samples, return_device_array=True)
        soap = self.density.compute(frames, "atom", resolved, species=species, selected_samples=selected_samples,
                                    return_device_array=True, progress=progress)
        return resolved, frames, soap, lode

    def _cross(self, soap, lode, xp):
        """(−1)^l / √(2l+1) Σ_m c_SOAP c_LODE of every row, columns (l, a, n1, b, n2)."""
        n_rows = soap.shape[0]
        columns = []
        for l in range(self.l_max + 1):
            a = soap[:, :, l * l : (l + 1) ** 2, :]
            b = lode[:, :, l * l : (l + 1) ** 2, :]
            columns.append(((-1) ** l / math.sqrt(2 * l + 1)) * xp.einsum("iamn,ibmk->ianbk", a, b).reshape(n_rows, -1))
        return xp.concatenate(columns, axis=1)


class SoapLodePowerSpectrum(LodePowerSpectrum):
    r"""SOAP and LODE together, for periodic structures: the SOAP power spectrum (ρ ⊗ ρ,
    :class:`SoapPowerSpectrum`, its columns and order) followed by the multi-scale invariants
    (ρ ⊗ V, :class:`LodePowerSpectrum`). :class:`LodePowerSpectrum` alone holds only ρ ⊗ V; the
    two together are the multi-scale model of Grisafi & Ceriotti, J. Chem. Phys. 151, 204105
    (2019). One SOAP expansion serves both parts. Rows per atom, or per structure the **mean**
    (both parts are means, as :class:`SoapPowerSpectrum`).

    Only for 3-D periodic structures: any other is a ``ValueError`` naming the frame and its pbc.

    Examples
    --------
    >>> from ase.build import bulk
    >>> calc = SoapLodePowerSpectrum(cutoff=4.0, n_max=2, l_max=1, smearing=1.0)
    >>> calc.compute(bulk("NaCl", "rocksalt", a=5.6), backend="numpy").shape   # 3 pairs·2 l·2² + 2 l·(2·2)²
    (2, 56)
    """

    def __init__(self, cutoff: float = 5.0, n_max: int = 8, l_max: int = 6, density_width: float = 0.3,
                 smoothing_width: float = 0.5, center_weight: float = 1.0, smearing: float = 1.0, exponent: int = 1,
                 radius: float | None = None, lode_n_max: int | None = None, k_cutoff: float | None = None,
                 species: Sequence[int] | None = None):
        super().__init__(cutoff, n_max, l_max, density_width, smoothing_width, center_weight, smearing, exponent, radius,
                         lode_n_max, k_cutoff, species)
        self.power_spectrum = SoapPowerSpectrum(cutoff=cutoff, n_max=n_max, l_max=l_max, density_width=density_width,
                                                smoothing_width=smoothing_width, center_weight=center_weight, species=species)

    def n_features(self, n_species: int) -> int:
        return self.power_spectrum.n_features(n_species) + super().n_features(n_species)

    def feature_labels(self, species):
        raise NotImplementedError("the SOAP and LODE columns have different integer labels: use feature_names")

    def feature_names(self, species) -> list[str]:
        return self.power_spectrum.feature_names(species) + super().feature_names(species)

    def _check_periodic(self, frames) -> None:
        for k, atoms in enumerate(_as_frames(frames)):
            pbc = np.asarray(atoms.pbc, dtype=bool)
            if not pbc.all():
                raise ValueError(
                    f"frame {k} is not periodic in every direction (pbc={pbc.tolist()}): the SOAP + LODE descriptor "
                    "sums the long-range potential over a 3-D lattice and only takes fully periodic structures "
                    "(choose 'soap' or 'lambda-soap' for molecules)")

    def compute(self, frames, per: str = "atom", backend: str = "auto", *, species: Sequence[int] | None = None,
                selected_samples=None, dtype=np.float64, progress=None) -> np.ndarray:
        """Rows of every atom (by (structure, atom)) or structure (means), shape (n_rows, n_features):
        the SOAP power spectrum, then the SOAP ⊗ LODE invariants."""
        self._check_periodic(frames)
        resolved, frames, soap, lode = self._both_expansions(frames, per, backend, species, selected_samples, progress)
        xp = resolved.xp
        out = xp.concatenate([power_spectrum(soap, self.l_max, xp=xp), self._cross(soap, lode, xp)], axis=1)
        if per == "structure":
            out = per_structure(xp, frames, out, mean=True)
        return resolved.to_host(out).astype(dtype, copy=False)
