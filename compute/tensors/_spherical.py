"""Cartesian vectors and symmetric 3x3 tensors <-> their irreducible spherical parts, and the
ellipsoids of symmetric tensors (for drawing)."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["cartesian_to_spherical", "spherical_to_cartesian", "symmetric_matrices", "ellipsoids"]

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


def _in_layout(T: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Cartesian vectors or tensors ``T`` in the layout of targets of shape ``shape``: (n, 6)
    xx yy zz xy xz yz when the targets came that way, else as they are."""
    if len(shape) == 2 and shape[1] == 6:
        return np.stack([T[:, 0, 0], T[:, 1, 1], T[:, 2, 2], T[:, 0, 1], T[:, 0, 2], T[:, 1, 2]], axis=1)
    return T
