"""The density-expansion family with featomic 0.6's definitions, on NumPy, Numba and CuPy.

:class:`SphericalExpansion` is the calculator the others build on: the coefficients
c[i; a, lm, n] of each centre's neighbour density. :class:`SoapPowerSpectrum` and
:class:`SoapRadialSpectrum` are thin declarations on top of it: their hyperparameters, their
column layout and their contraction of the coefficients.

The shared driver (:class:`_ExpansionCalculator`) validates hyperparameters and inputs once,
resolves the backend once, computes only the requested centres (``selected_samples``), splits the
structures into batches (so per-structure features of a very large file never hold per-atom
intermediates for the whole file), computes each batch's neighbour list on the host, and branches
once into the backend: the ``xp`` array code of ``_spherical`` (numpy, cupy) or the kernels of
``_numba`` (the expansion of one centre, then the descriptor's contraction, centre by centre).
"""

from __future__ import annotations

import math
from typing import Callable, Iterator, Sequence

import numpy as np

from .. import _dispatch
from ..systems import atomic_numbers, neighbor_pairs, structure_offsets
from . import _numba, _spherical
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


def prepare_call(calculator, frames, per: str, backend, species):
    """What every ``compute`` checks first: ``per``, the resolved backend, the frames as a list and
    the species of the columns (given, else the calculator's for these frames)."""
    if per not in ("atom", "structure"):
        raise ValueError(f"per={per!r}: expected 'atom' or 'structure'")
    resolved = _dispatch.resolve(backend)
    frames = _as_frames(frames)
    if species is not None:
        species = np.array(sorted({int(z) for z in species}), dtype=np.int64)
    else:
        species = calculator.species_for(frames)
    return resolved, frames, species


def per_structure(xp, frames, rows, *, mean: bool):
    """Per-atom ``rows`` (rows by (structure, atom), any trailing shape) reduced to one row per
    structure of ``frames``: the mean over its atoms, or the sum (``mean=False``)."""
    offsets = structure_offsets(frames)
    counts = np.diff(offsets)
    if xp is np and len(frames) and counts.min() > 0:
        # the rows of a structure are consecutive: one segmented sum (np.add.at: 1.3-3x slower, measured on ν=3 rows)
        out = np.add.reduceat(rows, offsets[:-1], axis=0)
    else:
        owner = xp.asarray(np.repeat(np.arange(len(frames)), counts))
        out = xp.zeros((len(frames),) + tuple(rows.shape[1:]), dtype=rows.dtype)
        _dispatch.scatter_add(xp, out, owner, rows)
    if mean:
        out /= xp.asarray(counts, dtype=out.dtype).reshape((-1,) + (1,) * (out.ndim - 1))
    return out


class OnExpansion:
    """Base of the descriptors contracted from a :class:`SphericalExpansion` (λ-SOAP, ν=3): the
    expansion's hyperparameters are theirs."""

    _HYPERS = ("cutoff", "n_max", "l_max", "density_width", "smoothing_width", "center_weight", "species")
    #: (name, label, min, max, step, default) of each hyperparameter beyond the expansion's: none
    EXTRA_HYPERS: tuple = ()

    def __init__(self, cutoff: float = 5.0, n_max: int = 8, l_max: int = 6, density_width: float = 0.3,
                 smoothing_width: float = 0.5, center_weight: float = 1.0, species: Sequence[int] | None = None):
        self.expansion = SphericalExpansion(cutoff=cutoff, n_max=n_max, l_max=l_max, density_width=density_width,
                                            smoothing_width=smoothing_width, center_weight=center_weight, species=species)

    def __getattr__(self, name):
        if name in OnExpansion._HYPERS:
            return getattr(self.__dict__["expansion"], name)
        raise AttributeError(name)

    def __repr__(self) -> str:
        return repr(self.expansion).replace("SphericalExpansion", type(self).__name__, 1)

    def species_for(self, frames) -> np.ndarray:
        return self.expansion.species_for(frames)


class _Batch:
    """One batch of structures and the centres of it to compute.

    ``centres``: batch-local atom indices; ``unit_offsets``: groups of consecutive centres that
    write the same output rows (one centre per unit per atom, a whole structure per structure);
    ``rows``: the output row of each centre, local to the batch's block of rows; ``scales``: the
    weight of each centre in its row (1, or 1/atoms for a structure's mean).
    """

    def __init__(self, frames: list, centres: np.ndarray | None, per: str):
        self.frames = frames
        offsets = structure_offsets(frames)
        self.n_atoms = int(offsets[-1])
        if per == "structure":
            counts = np.diff(offsets)
            self.centres = np.arange(self.n_atoms, dtype=np.int64)
            self.unit_offsets = offsets.astype(np.int64)
            self.rows = np.repeat(np.arange(len(frames), dtype=np.int64), counts)
            self.scales = np.repeat(1.0 / counts, counts)
            self.n_rows = len(frames)
        else:
            self.centres = np.arange(self.n_atoms, dtype=np.int64) if centres is None else np.asarray(centres, dtype=np.int64)
            n = len(self.centres)
            self.unit_offsets = np.arange(n + 1, dtype=np.int64)
            self.rows = np.arange(n, dtype=np.int64)
            self.scales = np.ones(n)
            self.n_rows = n


class _ExpansionCalculator:
    """Hyperparameters, species, centre selection, batching and backends of the family."""

    #: the ``_numba`` kernel of this descriptor (its contraction of one centre's coefficients)
    _numba_kernel: Callable
    #: (name, label, min, max, step, default) of each hyperparameter beyond the common ones: none
    EXTRA_HYPERS: tuple = ()

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

    # -- what a descriptor declares ------------------------------------------------------------
    def row_shape(self, n_species: int) -> tuple[int, ...]:
        """Shape of one row of the result (after the row axis)."""
        return (self.n_features(n_species),)

    def n_features(self, n_species: int) -> int:
        raise NotImplementedError

    def _spline_l_max(self) -> int:
        """Largest l of the expansion this descriptor needs."""
        return self.l_max

    def _contract(self, coefficients, xp):
        """The descriptor's rows from coefficients c[i, a, lm, n] (array backends)."""
        raise NotImplementedError

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
        selected_samples=None,
        dtype=np.float64,
        return_device_array: bool = False,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Rows of every atom (``per="atom"``) or of every structure (``per="structure"``).

        Parameters
        ----------
        frames : ase.Atoms or sequence of ase.Atoms
        per : {"atom", "structure"}
            Rows ordered by (structure, atom), or one row per structure: the mean over its atoms.
        backend : {"auto", "numpy", "numba", "cupy"}
            See :mod:`compute._dispatch` ("auto": CuPy when a GPU is usable, else Numba).
        species : sequence of int, optional
            Atomic numbers fixing the columns for this call (default: the calculator's
            ``species``, else the species present in ``frames``).
        selected_samples : sequence of int, optional
            Only these rows, in this order: atom indices in the (structure, atom) order of all
            atoms of ``frames`` (``per="atom"``), or structure indices (``per="structure"``).
            Only the selected centres are expanded: 100 centres of a 10,000-atom file cost
            about 1/100 of all of them. The columns (species) are those of all ``frames``.
        dtype : numpy dtype
            Of the returned array (computation is always float64).
        return_device_array : bool
            With the cupy backend, return the cupy array instead of copying it to the host.
        progress : callable(done, total), optional
            Called after each batch with the number of structures done.

        Returns
        -------
        numpy.ndarray of shape (n_rows, *row_shape)
        """
        backend, frames, species = self._prepare(frames, per, backend, species, selected_samples)
        frames, visited, centres_of, inverse = self._select(frames, per, selected_samples)
        if selected_samples is not None:
            self._check_frames(frames, species, visited)  # the structures visited
        n_rows = len(frames) if per == "structure" else sum(
            len(atoms) if centres_of is None else len(centres_of[k]) for k, atoms in enumerate(frames))
        out = backend.xp.empty((n_rows, *self.row_shape(len(species))), dtype=dtype)
        done_rows = 0
        done_structures = 0
        for batch in self._batches(frames, centres_of, per, _BATCH_ATOMS[backend.name]):
            self._compute_batch(batch, species, backend, out[done_rows : done_rows + batch.n_rows])
            done_rows += batch.n_rows
            done_structures += len(batch.frames)
            if progress is not None:
                progress(done_structures, len(frames))
        if inverse is not None:
            out = out[backend.asarray(inverse)]
        if backend.on_gpu and not return_device_array:
            return backend.to_host(out)
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
        """Rows batch by batch: yields ``(structures, rows)`` with ``structures`` a slice of
        ``frames`` and ``rows`` their rows (numpy), so a caller can stream them to disk and
        memory stays bounded by one batch whatever the number of structures.

        Arguments as in :meth:`compute`; ``batch_atoms`` caps the atoms per batch.
        """
        backend, frames, species = self._prepare(frames, per, backend, species)
        start = 0
        for batch in self._batches(frames, None, per, batch_atoms or _BATCH_ATOMS[backend.name]):
            rows = backend.xp.empty((batch.n_rows, *self.row_shape(len(species))), dtype=dtype)
            self._compute_batch(batch, species, backend, rows)
            yield slice(start, start + len(batch.frames)), backend.to_host(rows)
            start += len(batch.frames)

    def _prepare(self, frames, per, backend, species, selected_samples=None):
        """Validate once: the resolved backend, the frames as a list, the species array (the
        frames themselves are checked here unless only some centres are selected)."""
        backend, frames, species = prepare_call(self, frames, per, backend, species)
        if selected_samples is None:
            self._check_frames(frames, species)
        return backend, frames, species

    @staticmethod
    def _select(frames, per, selected_samples):
        """The structures to visit, their indices, the centres of each (None: all its atoms) and
        the order in which to return the computed rows (None: as computed)."""
        if selected_samples is None:
            return frames, None, None, None
        selected = np.asarray(selected_samples)
        if selected.ndim != 1 or (selected.size and not np.issubdtype(selected.dtype, np.integer)):
            raise ValueError("selected_samples must be a 1-D sequence of integer row indices")
        selected = selected.astype(np.int64)
        n_total = len(frames) if per == "structure" else int(structure_offsets(frames)[-1])
        if selected.size and (selected.min() < 0 or selected.max() >= n_total):
            what = "structures" if per == "structure" else "atoms"
            raise ValueError(f"selected_samples must be between 0 and {n_total - 1} (there are {n_total} {what})")
        # computed once each, in increasing order; then given back in the order asked for
        unique, inverse = np.unique(selected, return_inverse=True)
        if len(unique) == len(selected) and np.all(unique == selected):
            inverse = None
        if per == "structure":
            return [frames[k] for k in unique], unique, None, inverse
        offsets = structure_offsets(frames)
        structure = np.searchsorted(offsets, unique, side="right") - 1
        visited, starts = np.unique(structure, return_index=True)
        groups = np.split(unique - offsets[structure], starts[1:])
        return [frames[k] for k in visited], visited, groups, inverse

    def _check_frames(self, frames, species, numbers=None) -> None:
        """Refuse empty structures, unknown species, non-finite positions; ``numbers``: the
        frames' indices in what the caller gave (for the messages)."""
        allowed = set(species.tolist())
        for position, atoms in enumerate(frames):
            k = position if numbers is None else int(numbers[position])
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
    def _batches(frames, centres_of, per: str, max_atoms: int) -> Iterator[_Batch]:
        """Consecutive structures of at most ``max_atoms`` atoms (one structure at least)."""
        start, atoms_in_batch = 0, 0

        def batch(stop):
            if centres_of is None:
                return _Batch(frames[start:stop], None, per)
            local = structure_offsets(frames[start:stop])
            return _Batch(frames[start:stop], np.concatenate([local[k - start] + centres_of[k] for k in range(start, stop)]), per)

        for k, atoms in enumerate(frames):
            if k > start and atoms_in_batch + len(atoms) > max_atoms:
                yield batch(k)
                start, atoms_in_batch = k, 0
            atoms_in_batch += len(atoms)
        if start < len(frames):
            yield batch(len(frames))

    def _compute_batch(self, batch: _Batch, species, backend, out):
        """Rows of one batch, written into ``out`` (its block of the result)."""
        pairs = neighbor_pairs(batch.frames, self.cutoff)
        species_index = np.searchsorted(species, atomic_numbers(batch.frames))
        if backend.name == "numba":
            self._numba_batch(batch, pairs, species_index, len(species), out)
        else:
            out[...] = self._array_batch(batch, pairs, species_index, len(species), backend)

    def _array_batch(self, batch: _Batch, pairs, species_index, n_species, backend):
        xp = backend.xp
        # only the pairs of the centres asked for, renumbered 0 … n_centres − 1
        starts, stops = pairs.center_offsets[batch.centres], pairs.center_offsets[batch.centres + 1]
        counts = stops - starts
        take = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        device_pairs = {
            "center": xp.asarray(np.repeat(np.arange(len(batch.centres)), counts)),
            "neighbor_species": xp.asarray(species_index[pairs.neighbors[take]]),
            "vectors": xp.asarray(pairs.vectors[take]),
            "distances": xp.asarray(pairs.distances[take]),
            "center_species": xp.asarray(species_index[batch.centres]),
        }
        coefficients = _spherical.density_coefficients(device_pairs, self._splines(), self._hypers(), len(batch.centres),
                                                       n_species, xp=xp)
        rows = self._contract(coefficients, xp)
        if batch.n_rows == len(batch.centres) and np.array_equal(batch.rows, np.arange(batch.n_rows)):
            return rows
        sums = xp.zeros((batch.n_rows, *rows.shape[1:]), dtype=rows.dtype)
        weighted = rows * xp.asarray(batch.scales).reshape((-1,) + (1,) * (rows.ndim - 1))
        _dispatch.scatter_add(xp, sums, xp.asarray(batch.rows), weighted)
        return sums

    def _numba_batch(self, batch: _Batch, pairs, species_index, n_species, out):
        # the kernels accumulate into float64 rows: write in place when the result is float64
        target = out if out.dtype == np.float64 and out.flags.c_contiguous else np.empty(out.shape)
        target[...] = 0.0
        splines = self._splines()
        hypers = self._hypers()
        expansion = _numba.Expansion(
            pairs.center_offsets, np.ascontiguousarray(species_index[pairs.neighbors]), pairs.vectors, pairs.distances,
            np.ascontiguousarray(species_index), n_species, splines.values, splines.derivatives, splines.step,
            hypers["cutoff"], hypers["smoothing_width"], hypers["center_weight"], self.n_max, splines.l_max,
            _spherical.harmonic_prefactors(splines.l_max),
        )
        type(self)._numba_kernel(batch.centres, batch.unit_offsets, batch.rows, batch.scales, expansion, target)
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


class SphericalExpansion(_ExpansionCalculator):
    """Density expansion coefficients c[i; a, lm, n], the calculator the family builds on.

    The neighbour density of species ``a`` around centre ``i`` (Gaussians of width
    ``density_width``, a shifted-cosine cutoff of width ``smoothing_width``, the centre itself
    weighted by ``center_weight``) projected on ``n_max`` orthonormal GTO radial functions and real
    spherical harmonics Y_lm up to ``l_max``. Rows have shape (n_species, (l_max+1)², n_max), lm
    ordered l², then m = −l … l; per structure: the mean over the structure's atoms.

    Examples
    --------
    >>> from ase.build import molecule
    >>> c = SphericalExpansion(cutoff=4.0, n_max=4, l_max=3).compute(molecule("H2O"), backend="numpy")
    >>> c.shape  # 3 atoms, 2 species, 16 (l, m), 4 radial functions
    (3, 2, 16, 4)
    """

    _numba_kernel = _numba.expansion_kernel

    def row_shape(self, n_species: int) -> tuple[int, ...]:
        return (n_species, (self.l_max + 1) ** 2, self.n_max)

    def n_features(self, n_species: int) -> int:
        return n_species * (self.l_max + 1) ** 2 * self.n_max

    def _contract(self, coefficients, xp):
        return coefficients


class SoapPowerSpectrum(_ExpansionCalculator):
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

    _numba_kernel = _numba.power_spectrum_kernel

    def _contract(self, coefficients, xp):
        return _spherical.power_spectrum(coefficients, self.l_max, xp=xp)


class SoapRadialSpectrum(_ExpansionCalculator):
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

    _numba_kernel = _numba.radial_spectrum_kernel

    def _contract(self, coefficients, xp):
        return _spherical.radial_spectrum(coefficients, xp=xp)
