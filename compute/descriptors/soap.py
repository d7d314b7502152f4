"""SOAP power and radial spectra with featomic 0.6's definitions, on NumPy, Numba and CuPy.

The public classes validate hyperparameters and inputs once, split the frames into batches of
structures (so per-structure features of a very large file never hold per-atom intermediates for
the whole file), compute each batch's neighbour list on the host, and branch once into the
backend: the ``xp`` array code of ``_spherical`` (numpy, cupy) or the fused kernels of ``_numba``.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np

from .. import _dispatch
from ..systems import atomic_numbers, neighbor_pairs, structure_offsets
from . import _spherical
from ._radial import radial_splines

# Atoms per batch. NumPy/CuPy hold per-pair (l_max+1)²·n_max intermediates, Numba holds none.
_BATCH_ATOMS = {"numpy": 2_000, "cupy": 50_000, "numba": 20_000}

ProgressCallback = Callable[[int, int], None]


def _as_frames(frames) -> list:
    """Accept one ase.Atoms or a sequence of them."""
    if hasattr(frames, "positions") and hasattr(frames, "numbers"):
        return [frames]
    frames = list(frames)
    for k, atoms in enumerate(frames):
        if not (hasattr(atoms, "positions") and hasattr(atoms, "numbers")):
            raise TypeError(f"frame {k} is a {type(atoms).__name__}, expected ase.Atoms")
    return frames


def _chemical_symbol(z: int) -> str:
    from ase.data import chemical_symbols

    return chemical_symbols[z] if 0 < z < len(chemical_symbols) else str(z)


class _SoapCalculator:
    """Hyperparameters, species handling and batching shared by the power and radial spectra."""

    def __init__(
        self,
        cutoff: float = 5.0,
        n_max: int = 8,
        l_max: int = 6,
        density_width: float = 0.3,
        smoothing_width: float = 0.5,
        center_weight: float = 1.0,
        species: Sequence[int] | None = None,
    ):
        self.cutoff = cutoff
        self.n_max = n_max
        self.l_max = l_max
        self.density_width = density_width
        self.smoothing_width = smoothing_width
        self.center_weight = center_weight
        self.species = species
        self._check_hypers()

    # -- validation ---------------------------------------------------------------------------
    def _check_hypers(self) -> None:
        def require(condition, parameter, message):
            if not condition:
                raise ValueError(f"{parameter}={getattr(self, parameter)!r}: {message}")

        require(math.isfinite(self.cutoff) and self.cutoff > 0, "cutoff", "must be a positive distance in Å")
        require(int(self.n_max) == self.n_max and 1 <= self.n_max <= 32, "n_max", "must be an integer in 1…32")
        require(int(self.l_max) == self.l_max and 0 <= self.l_max <= 16, "l_max", "must be an integer in 0…16")
        require(math.isfinite(self.density_width) and self.density_width > 0, "density_width", "must be positive (Å)")
        require(
            0 <= self.smoothing_width <= self.cutoff, "smoothing_width", "must be between 0 and the cutoff"
        )
        require(math.isfinite(self.center_weight), "center_weight", "must be a finite number")
        self.n_max, self.l_max = int(self.n_max), int(self.l_max)

    def species_for(self, frames) -> np.ndarray:
        """The atomic numbers that index the feature columns: ``species`` or those of ``frames``."""
        if self.species is not None:
            return np.array(sorted({int(z) for z in self.species}), dtype=np.int64)
        return np.unique(atomic_numbers(_as_frames(frames)))

    def _hypers(self) -> dict:
        return {
            "cutoff": float(self.cutoff),
            "smoothing_width": float(self.smoothing_width),
            "center_weight": float(self.center_weight),
        }

    # -- driver ------------------------------------------------------------------------------
    def compute(
        self,
        frames,
        per: str = "atom",
        backend: str = "auto",
        *,
        species: Sequence[int] | None = None,
        dtype=np.float64,
        return_device_array: bool = False,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Features of every atom (``per="atom"``) or of every structure (``per="structure"``).

        Parameters
        ----------
        frames : ase.Atoms or sequence of ase.Atoms
        per : {"atom", "structure"}
            Rows ordered by (structure, atom), or one row per structure: the mean over its atoms.
        backend : {"auto", "numpy", "numba", "cupy"}
            "auto" uses CuPy when a GPU is usable, else Numba.
        species : sequence of int, optional
            Atomic numbers fixing the columns for this call (default: the calculator's
            ``species``, else the species present in ``frames``).
        dtype : numpy dtype
            Of the returned array (computation is always float64).
        return_device_array : bool
            With the cupy backend, return the cupy array instead of copying it to the host.
        progress : callable(done, total), optional
            Called after each batch with the number of structures done.

        Returns
        -------
        numpy.ndarray of shape (n_rows, n_features)
        """
        backend, frames, species = self._prepare(frames, per, backend, species)
        n_rows = len(frames) if per == "structure" else int(structure_offsets(frames)[-1])
        xp = _dispatch.backend_namespace(backend)
        out = xp.empty((n_rows, self.n_features(len(species))), dtype=dtype)
        done_rows = 0
        done_structures = 0
        for batch in self._batches(frames, _BATCH_ATOMS[backend]):
            n_batch_rows = len(batch) if per == "structure" else int(structure_offsets(batch)[-1])
            self._compute_batch(batch, species, per, backend, out[done_rows : done_rows + n_batch_rows])
            done_rows += n_batch_rows
            done_structures += len(batch)
            if progress is not None:
                progress(done_structures, len(frames))
        if backend == "cupy" and not return_device_array:
            return _dispatch.to_numpy(out)
        return out

    def iter_compute(
        self,
        frames,
        per: str = "structure",
        backend: str = "auto",
        *,
        species: Sequence[int] | None = None,
        batch_atoms: int | None = None,
        dtype=np.float64,
    ) -> Iterator[tuple[slice, np.ndarray]]:
        """Features batch by batch: yields ``(structures, rows)`` with ``structures`` a slice of
        ``frames`` and ``rows`` their features (numpy), so a caller can stream them to disk and
        memory stays bounded by one batch whatever the number of structures.

        Arguments as in :meth:`compute`; ``batch_atoms`` caps the atoms per batch.
        """
        backend, frames, species = self._prepare(frames, per, backend, species)
        start = 0
        for batch in self._batches(frames, batch_atoms or _BATCH_ATOMS[backend]):
            n_batch_rows = len(batch) if per == "structure" else int(structure_offsets(batch)[-1])
            xp = _dispatch.backend_namespace(backend)
            rows = xp.empty((n_batch_rows, self.n_features(len(species))), dtype=dtype)
            self._compute_batch(batch, species, per, backend, rows)
            yield slice(start, start + len(batch)), _dispatch.to_numpy(rows)
            start += len(batch)

    def _prepare(self, frames, per, backend, species):
        """Validate once: the resolved backend, the frames as a list, the species array."""
        if per not in ("atom", "structure"):
            raise ValueError(f"per={per!r}: expected 'atom' or 'structure'")
        backend = _dispatch.resolve_backend(backend)
        frames = _as_frames(frames)
        if species is not None:
            species = np.array(sorted({int(z) for z in species}), dtype=np.int64)
        else:
            species = self.species_for(frames)
        self._check_frames(frames, species)
        return backend, frames, species

    def _check_frames(self, frames, species) -> None:
        allowed = set(species.tolist())
        for k, atoms in enumerate(frames):
            if len(atoms) == 0:
                raise ValueError(f"frame {k} has no atoms: SOAP needs at least one atom per structure")
            unknown = set(np.unique(atoms.numbers).tolist()) - allowed
            if unknown:
                names = ", ".join(_chemical_symbol(z) for z in sorted(unknown))
                raise ValueError(
                    f"frame {k} contains {names}, not in species={[int(z) for z in species]}: "
                    "add these elements to `species` or leave it unset"
                )
            if not np.all(np.isfinite(atoms.positions)):
                raise ValueError(f"frame {k} has NaN or infinite positions")

    @staticmethod
    def _batches(frames, max_atoms: int) -> Iterator[list]:
        batch, atoms_in_batch = [], 0
        for atoms in frames:
            if batch and atoms_in_batch + len(atoms) > max_atoms:
                yield batch
                batch, atoms_in_batch = [], 0
            batch.append(atoms)
            atoms_in_batch += len(atoms)
        if batch:
            yield batch

    def _compute_batch(self, batch, species, per, backend, out):
        """Features of one batch of structures, written into ``out`` (its rows of the result)."""
        pairs = neighbor_pairs(batch, self.cutoff)
        numbers = atomic_numbers(batch)
        species_index = np.searchsorted(species, numbers)
        offsets = structure_offsets(batch)
        if backend == "numba":
            self._numba_batch(pairs, species_index, offsets, len(species), per, out)
        else:
            out[...] = self._array_batch(pairs, species_index, offsets, len(species), per, backend)

    def _array_batch(self, pairs, species_index, offsets, n_species, per, backend):
        xp = _dispatch.backend_namespace(backend)
        splines = self._splines()
        n_atoms = int(offsets[-1])
        device_pairs = {
            "center": xp.asarray(pairs.centers),
            "neighbor_species": xp.asarray(species_index[pairs.neighbors]),
            "vectors": xp.asarray(pairs.vectors),
            "distances": xp.asarray(pairs.distances),
            "center_species": xp.asarray(species_index),
        }
        coefficients = _spherical.density_coefficients(device_pairs, splines, self._hypers(), n_atoms, n_species, xp=xp)
        rows = self._contract(coefficients, xp)
        if per == "atom":
            return rows
        counts = np.diff(offsets)
        structure_of_atom = xp.asarray(np.repeat(np.arange(len(counts)), counts))
        sums = xp.zeros((len(counts), rows.shape[1]), dtype=rows.dtype)
        _spherical._scatter_add_rows(xp, sums, structure_of_atom, rows)
        return sums / xp.asarray(counts, dtype=rows.dtype)[:, None]

    def _numba_batch(self, pairs, species_index, offsets, n_species, per, out):
        n_atoms = int(offsets[-1])
        counts = np.diff(offsets)
        if per == "atom":
            units = np.arange(n_atoms + 1, dtype=np.int64)
            rows = np.arange(n_atoms, dtype=np.int64)
            scales = np.ones(n_atoms)
        else:
            units = offsets.astype(np.int64)
            rows = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
            scales = np.repeat(1.0 / counts, counts)
        # the kernel accumulates into float64 rows: write in place when the result is float64
        target = out if out.dtype == np.float64 and out.flags.c_contiguous else np.empty(out.shape)
        target[...] = 0.0
        splines = self._splines()
        hypers = self._hypers()
        self._numba_kernel()(
            units, rows, scales, pairs.center_offsets, np.ascontiguousarray(species_index[pairs.neighbors]),
            pairs.vectors, pairs.distances, np.ascontiguousarray(species_index), n_species,
            splines.values, splines.derivatives, splines.step,
            hypers["cutoff"], hypers["smoothing_width"], hypers["center_weight"],
            self.n_max, splines.l_max, _spherical.harmonic_prefactors(splines.l_max), target,
        )
        if target is not out:
            out[...] = target

    def _splines(self):
        return radial_splines(float(self.cutoff), self.n_max, self._spline_l_max(), float(self.density_width))

    def __repr__(self) -> str:
        params = ", ".join(
            f"{k}={getattr(self, k)!r}"
            for k in ("cutoff", "n_max", "l_max", "density_width", "smoothing_width", "center_weight", "species")
        )
        return f"{type(self).__name__}({params})"


class SoapPowerSpectrum(_SoapCalculator):
    """SOAP power spectrum, identical to featomic 0.6's ``SoapPowerSpectrum``.

    Gaussian atom densities of width ``density_width``, a shifted-cosine cutoff of width
    ``smoothing_width``, ``n_max`` orthonormalised GTO radial functions (featomic's
    ``max_radial = n_max - 1``) and real spherical harmonics up to ``l_max``. Columns are species
    pairs (a ≤ b, by atomic number), then l, n1, n2; pairs absent from an environment are zeros.

    Examples
    --------
    >>> from ase.build import molecule
    >>> soap = SoapPowerSpectrum(cutoff=4.0, n_max=4, l_max=3)
    >>> X = soap.compute([molecule("H2O"), molecule("CH4")], per="structure", backend="numpy")
    >>> X.shape  # 3 species → 6 pairs × 4 l × 16 (n1, n2)
    (2, 384)
    >>> soap.feature_names([1, 6, 8])[:2]
    ['H-H l=0 n1=0 n2=0', 'H-H l=0 n1=0 n2=1']
    """

    def n_features(self, n_species: int) -> int:
        return n_species * (n_species + 1) // 2 * (self.l_max + 1) * self.n_max**2

    def feature_labels(self, species) -> np.ndarray:
        """Integer labels (species_a, species_b, l, n1, n2) of every column, shape (n_features, 5)."""
        species = np.array(sorted(int(z) for z in species))
        a, b = np.triu_indices(len(species))
        grid = np.stack(
            np.meshgrid(np.arange(len(a)), np.arange(self.l_max + 1), np.arange(self.n_max), np.arange(self.n_max), indexing="ij"),
            axis=-1,
        ).reshape(-1, 4)
        pair, l, n1, n2 = grid.T
        return np.stack([species[a[pair]], species[b[pair]], l, n1, n2], axis=1)

    def feature_names(self, species) -> list[str]:
        """Readable column names such as ``'C-H l=2 n1=0 n2=3'`` (symbols ordered by atomic number)."""
        return [
            f"{_chemical_symbol(za)}-{_chemical_symbol(zb)} l={l} n1={n1} n2={n2}"
            for za, zb, l, n1, n2 in self.feature_labels(species).tolist()
        ]

    def _spline_l_max(self) -> int:
        return self.l_max

    def _contract(self, coefficients, xp):
        return _spherical.power_spectrum(coefficients, self.l_max, xp=xp)

    def _numba_kernel(self):
        from ._numba import _power_spectrum_kernel

        return _power_spectrum_kernel

class SoapRadialSpectrum(_SoapCalculator):
    """SOAP radial spectrum (the two-body part), identical to featomic 0.6's ``SoapRadialSpectrum``.

    r[i; a, n] = c[i; a, n, l=0]: one block of ``n_max`` columns per neighbour species. ``l_max``
    is accepted for symmetry with :class:`SoapPowerSpectrum` and ignored.

    Examples
    --------
    >>> from ase.build import molecule
    >>> X = SoapRadialSpectrum(cutoff=4.0, n_max=6).compute(molecule("CH4"), backend="numpy")
    >>> X.shape  # 5 atoms, 2 species × 6 radial functions
    (5, 12)
    """

    def n_features(self, n_species: int) -> int:
        return n_species * self.n_max

    def feature_labels(self, species) -> np.ndarray:
        """Integer labels (species, n) of every column, shape (n_features, 2)."""
        species = np.array(sorted(int(z) for z in species))
        return np.stack([np.repeat(species, self.n_max), np.tile(np.arange(self.n_max), len(species))], axis=1)

    def feature_names(self, species) -> list[str]:
        return [f"{_chemical_symbol(z)} n={n}" for z, n in self.feature_labels(species).tolist()]

    def _spline_l_max(self) -> int:
        return 0

    def _contract(self, coefficients, xp):
        return _spherical.radial_spectrum(coefficients, xp=xp)

    def _numba_kernel(self):
        from ._numba import _radial_spectrum_kernel

        return _radial_spectrum_kernel
