"""What one file, one click or one job may cost: limits checked *before* the memory is spent.

A byte limit alone lets a 58-byte POSCAR announce 10⁹ atoms, or a 4 MB NPZ inflate to 4 GB. So
every quantity that drives memory or time has its own limit here: structures, atoms, atoms per
structure, coordinate and cell sanity, neighbour pairs within the cutoff, feature-matrix and
kernel bytes, atoms drawn by the viewer. Each has a default sized for a workstation and an
``EXPLORER_*`` environment variable that changes it (read when checked, so job processes and web
workers follow the same policy). A refusal is a :class:`BudgetError` that names the quantity, its
value, the limit and the variable that raises it; the caller adds the file's name.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass

import numpy as np

__all__ = ["Budget", "BudgetError", "current", "check_counts", "check_frames", "estimate_pairs", "check_pairs", "check_matrix_bytes"]


class BudgetError(ValueError):
    """A request over one of the limits; the message says which and how to raise it."""


#: field -> (environment variable, unit shown in messages)
_VARIABLES = {
    "max_structures": ("EXPLORER_MAX_STRUCTURES", ""),
    "max_atoms": ("EXPLORER_MAX_ATOMS", ""),
    "max_atoms_per_structure": ("EXPLORER_MAX_ATOMS_PER_STRUCTURE", ""),
    "max_coordinate": ("EXPLORER_MAX_COORDINATE", " Å"),
    "min_volume_per_atom": ("EXPLORER_MIN_VOLUME_PER_ATOM", " Å³"),
    "max_neighbor_pairs": ("EXPLORER_MAX_NEIGHBOR_PAIRS", ""),
    "max_feature_gb": ("EXPLORER_MAX_FEATURE_GB", " GB"),
    "max_kernel_gb": ("EXPLORER_MAX_KERNEL_GB", " GB"),
    "max_viewer_atoms": ("EXPLORER_MAX_VIEWER_ATOMS", ""),
}


@dataclass(frozen=True)
class Budget:
    """The limits; see the module docstring. ``current()`` reads the environment's values."""

    max_structures: int = 500_000
    max_atoms: int = 10_000_000
    max_atoms_per_structure: int = 100_000
    #: |coordinate| and lattice-vector length, in Å (1e20 made the neighbour search die of SIGFPE)
    max_coordinate: float = 1.0e5
    #: a 3D-periodic cell with less volume per atom is not a physical structure (diamond: 5.7 Å³)
    min_volume_per_atom: float = 0.5
    #: neighbour pairs within the cutoff, per structure (each costs ~40 bytes in the search)
    max_neighbor_pairs: int = 50_000_000
    max_feature_gb: float = 4.0
    max_kernel_gb: float = 4.0
    max_viewer_atoms: int = 20_000

    def refuse(self, field: str, what: str, value, *, fmt=None) -> BudgetError:
        """The error for ``what`` at ``value`` over the limit in ``field``."""
        variable, unit = _VARIABLES[field]
        limit = getattr(self, field)
        show = fmt or _number
        relation = "under the minimum of" if field.startswith("min_") else "over the limit of"
        return BudgetError(f"{what} is {show(value)}{unit}, {relation} {show(limit)}{unit} (the setting {variable} changes it)")


def _number(value) -> str:
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    return f"{float(value):.3g}"


def current(environ=None) -> Budget:
    """The budget with every ``EXPLORER_*`` variable that is set (a malformed one is an error
    naming it, not a silent default)."""
    environ = os.environ if environ is None else environ
    values = {}
    for field in dataclasses.fields(Budget):
        variable, _ = _VARIABLES[field.name]
        text = environ.get(variable, "").strip()
        if not text:
            continue
        try:
            value = float(text)
        except ValueError:
            raise BudgetError(f"{variable}={text!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise BudgetError(f"{variable}={text!r} must be a positive number")
        values[field.name] = int(value) if field.type in ("int", int) else value
    return Budget(**values)


# -- structures ------------------------------------------------------------------------------------


def check_counts(budget: Budget, counts) -> None:
    """Structure and atom counts (announced by a file, before its atoms are read)."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size > budget.max_structures:
        raise budget.refuse("max_structures", "the number of structures", int(counts.size))
    if counts.size:
        biggest = int(counts.argmax())
        if counts[biggest] > budget.max_atoms_per_structure:
            raise budget.refuse("max_atoms_per_structure", f"structure {biggest}'s atom count", int(counts[biggest]))
    total = int(counts.sum())
    if total > budget.max_atoms:
        raise budget.refuse("max_atoms", "the total number of atoms", total)


def check_frames(budget: Budget, frames, what: str = "structure") -> None:
    """Counts, coordinates and cells of parsed structures (``ase.Atoms``)."""
    check_counts(budget, [len(atoms) for atoms in frames])
    for k, atoms in enumerate(frames):
        positions = np.asarray(atoms.positions)
        if positions.size and np.abs(positions).max() > budget.max_coordinate:
            raise budget.refuse("max_coordinate", f"{what} {k}'s largest coordinate", float(np.abs(positions).max()))
        cell = np.asarray(atoms.cell.array, dtype=float)
        pbc = np.asarray(atoms.pbc, dtype=bool)
        if not pbc.any():
            continue
        lengths = np.linalg.norm(cell, axis=1)
        if lengths[pbc].max() > budget.max_coordinate:
            raise budget.refuse("max_coordinate", f"{what} {k}'s longest lattice vector", float(lengths[pbc].max()))
        if pbc.all():
            volume = abs(float(np.linalg.det(cell)))
            # a flattened cell (vectors nearly in one plane) puts thousands of images in a cutoff
            if volume <= 1e-6 * float(np.prod(lengths)):
                raise BudgetError(f"{what} {k}'s cell is degenerate: its lattice vectors lie (nearly) in one plane "
                                  f"(volume {volume:.3g} Å³). Fix the lattice.")
            if volume / len(atoms) < budget.min_volume_per_atom:
                raise budget.refuse("min_volume_per_atom", f"{what} {k}'s volume per atom", volume / len(atoms))


# -- descriptors -----------------------------------------------------------------------------------


def estimate_pairs(atoms, cutoff: float) -> float:
    """About how many (centre, neighbour) pairs lie within ``cutoff`` in one structure: atoms ×
    density × the cutoff sphere's volume (no larger than all pairs, for a molecule)."""
    n = len(atoms)
    if n == 0:
        return 0.0
    sphere = 4.0 / 3.0 * math.pi * cutoff**3
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=float)
    if pbc.all():
        volume = abs(float(np.linalg.det(cell)))
        return n * n / max(volume, 1e-12) * sphere  # periodic images included
    positions = np.asarray(atoms.positions, dtype=float)
    extent = positions.max(axis=0) - positions.min(axis=0) + cutoff
    lengths = np.linalg.norm(cell, axis=1)
    extent = np.where(pbc, lengths, extent)
    density = n / max(float(np.prod(extent)), 1e-12)
    per_atom = density * sphere
    return n * (per_atom if pbc.any() else min(per_atom, n - 1))


def check_pairs(budget: Budget, frames, cutoff: float) -> None:
    for k, atoms in enumerate(frames):
        pairs = estimate_pairs(atoms, cutoff)
        if pairs > budget.max_neighbor_pairs:
            raise budget.refuse("max_neighbor_pairs", f"the number of neighbour pairs within {cutoff:g} Å in structure {k} "
                                "(estimated from its density)", round(pairs))


def check_matrix_bytes(budget: Budget, rows: int, columns: int, what: str = "the feature matrix", kind: str = "feature",
                       itemsize: int = 8) -> None:
    """A ``rows`` × ``columns`` matrix of ``itemsize``-byte numbers (``kind``: "feature" or "kernel")."""
    size = float(rows) * float(columns) * itemsize
    field = "max_feature_gb" if kind == "feature" else "max_kernel_gb"
    if size > getattr(budget, field) * 1e9:
        raise budget.refuse(field, f"{what} ({rows:,} × {columns:,} numbers)", size / 1e9, fmt=lambda v: f"{v:.3g}")
