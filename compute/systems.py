"""From ``ase.Atoms`` to plain arrays, and full periodic neighbour lists (vesin).

Descriptors work on batches of structures flattened into one set of atoms: global atom indices
run over the batch in (structure, atom) order, and pairs are sorted by their centre atom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import vesin


@dataclass
class NeighborPairs:
    """Every (centre i, neighbour j) pair with 0 < r_ij < cutoff in a batch, sorted by centre.

    ``vectors`` are r_j − r_i including the periodic shift; indices are global within the batch.
    ``center_offsets[k]:center_offsets[k+1]`` are the pairs of centre k.
    """

    centers: np.ndarray  # (n_pairs,) int64
    neighbors: np.ndarray  # (n_pairs,) int64
    vectors: np.ndarray  # (n_pairs, 3) float64
    distances: np.ndarray  # (n_pairs,) float64
    center_offsets: np.ndarray  # (n_atoms + 1,) int64


def structure_offsets(frames: Sequence) -> np.ndarray:
    """Start of each structure's atoms in the flattened batch, length n_structures + 1."""
    counts = np.fromiter((len(atoms) for atoms in frames), dtype=np.int64, count=len(frames))
    return np.concatenate([[0], np.cumsum(counts)])


def atomic_numbers(frames: Sequence) -> np.ndarray:
    return np.concatenate([atoms.numbers for atoms in frames]).astype(np.int64) if len(frames) else np.zeros(0, np.int64)


def _frame_pairs(atoms, cutoff: float):
    """i, j, r_j − r_i (with shift) for one structure; full list, periodic images included."""
    pbc = np.asarray(atoms.pbc, dtype=bool)
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    positions = np.asarray(atoms.positions, dtype=np.float64)
    if not pbc.any():
        # a cell written for a non-periodic molecule (e.g. a 14 Å box) must not matter
        cell = np.zeros((3, 3))
    neighbor_list = vesin.NeighborList(cutoff=cutoff, full_list=True)
    i, j, vectors = neighbor_list.compute(points=positions, box=cell, periodic=pbc, quantities="ijD")
    return i.astype(np.int64), j.astype(np.int64), vectors


def neighbor_pairs(frames: Sequence, cutoff: float) -> NeighborPairs:
    """Full neighbour list of a batch of structures, pairs at distance strictly inside (0, cutoff)."""
    offsets = structure_offsets(frames)
    centers, neighbors, vectors = [], [], []
    for k, atoms in enumerate(frames):
        i, j, d = _frame_pairs(atoms, cutoff)
        centers.append(i + offsets[k])
        neighbors.append(j + offsets[k])
        vectors.append(d)
    if centers:
        centers = np.concatenate(centers)
        neighbors = np.concatenate(neighbors)
        vectors = np.concatenate(vectors).reshape(-1, 3)
    else:
        centers = neighbors = np.zeros(0, np.int64)
        vectors = np.zeros((0, 3))
    distances = np.linalg.norm(vectors, axis=1)
    keep = (distances > 0.0) & (distances < cutoff)
    order = np.argsort(centers[keep], kind="stable")
    centers = centers[keep][order]
    n_atoms = int(offsets[-1])
    return NeighborPairs(
        centers=centers,
        neighbors=neighbors[keep][order],
        vectors=np.ascontiguousarray(vectors[keep][order]),
        distances=distances[keep][order],
        center_offsets=np.searchsorted(centers, np.arange(n_atoms + 1)).astype(np.int64),
    )

