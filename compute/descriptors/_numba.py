"""Parallel CPU kernels for the density-expansion family (backend "numba").

One routine, :func:`_expand_centre`, computes the density coefficients c[a, lm, n] of one centre
(radial splines, real spherical harmonics by recurrence, the neighbour sum) into a small buffer.
Each descriptor's kernel is that routine plus its contraction, one centre at a time, without any
per-pair intermediate array: :func:`expansion_kernel` (the coefficients themselves),
:func:`power_spectrum_kernel`, :func:`radial_spectrum_kernel`. Everything an expansion needs
travels as one :class:`Expansion` tuple. All checks live in the Python wrapper
(``compute.descriptors.soap``); kernels take plain contiguous arrays.

Work is split into "units" of centres (positions in ``centres``) that write to disjoint output
rows: single centres in per-atom mode, whole structures in per-structure mode (whose rows are
sums over the structure's atoms), so ``prange`` over units never races.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange


class Expansion(NamedTuple):
    """Inputs of the density expansion of a batch (neighbour pairs sorted by centre)."""

    pair_offsets: np.ndarray  # pairs of centre i: pair_offsets[i] … pair_offsets[i + 1]
    neighbor_species: np.ndarray  # species index of each pair's neighbour
    vectors: np.ndarray  # r_j − r_i, (n_pairs, 3)
    distances: np.ndarray
    center_species: np.ndarray  # species index of every atom of the batch
    n_species: int
    spline_values: np.ndarray  # (n_points, (l_max+1)·n_max)
    spline_derivatives: np.ndarray
    spline_step: float
    cutoff: float
    smoothing_width: float
    center_weight: float
    n_max: int
    l_max: int
    prefactors: np.ndarray  # harmonic_prefactors(l_max)


@njit(cache=True, inline="always")
def _spherical_harmonics(x, y, z, l_max, prefactors, q, out):
    """Real Y_lm of one unit vector into ``out`` ((l_max+1)², index l² + l + m)."""
    # q[l, m] = Q_l^m(z) (associated Legendre / sin^m θ, no Condon–Shortley phase)
    cos_m = 1.0
    sin_m = 0.0
    for m in range(l_max + 1):
        if m > 0:
            cos_m, sin_m = x * cos_m - y * sin_m, x * sin_m + y * cos_m
        q_mm = 1.0
        for k in range(1, 2 * m, 2):
            q_mm *= k
        q[m, m] = q_mm
        if m + 1 <= l_max:
            q[m + 1, m] = (2 * m + 1) * z * q_mm
        for l in range(m + 2, l_max + 1):
            q[l, m] = ((2 * l - 1) * z * q[l - 1, m] - (l + m - 1) * q[l - 2, m]) / (l - m)
        for l in range(m, l_max + 1):
            value = prefactors[l, m] * q[l, m]
            out[l * l + l + m] = value * cos_m
            if m > 0:
                out[l * l + l - m] = value * sin_m


@njit(cache=True, inline="always")
def _buffers(e):
    """Per-unit scratch arrays: coefficients (n_species, (l_max+1)², n_max), radial, harmonics, q."""
    n_lm = (e.l_max + 1) * (e.l_max + 1)
    return (np.empty((e.n_species, n_lm, e.n_max)), np.empty((e.l_max + 1) * e.n_max), np.empty(n_lm),
            np.zeros((e.l_max + 1, e.l_max + 1)))


@njit(cache=True, inline="always")
def _expand_centre(center, e, coefficients, radial, harmonics, q):
    """c[a, lm, n] of one centre into ``coefficients`` (zeroed here)."""
    coefficients[:] = 0.0
    n_max, l_max = e.n_max, e.l_max
    n_points = e.spline_values.shape[0]
    n_radial = (l_max + 1) * n_max
    for pair in range(e.pair_offsets[center], e.pair_offsets[center + 1]):
        r = e.distances[pair]
        # shifted-cosine cutoff
        if r <= e.cutoff - e.smoothing_width:
            fc = 1.0
        else:
            fc = 0.5 * (1.0 + math.cos(math.pi * (r - e.cutoff + e.smoothing_width) / e.smoothing_width))
        # cubic Hermite interpolation of every I_ln(r) at once
        position = r / e.spline_step
        k = min(int(position), n_points - 2)
        t = position - k
        t2 = t * t
        t3 = t2 * t
        h00 = (2 * t3 - 3 * t2 + 1) * fc
        h10 = (t3 - 2 * t2 + t) * e.spline_step * fc
        h01 = (-2 * t3 + 3 * t2) * fc
        h11 = (t3 - t2) * e.spline_step * fc
        for ln in range(n_radial):
            radial[ln] = (
                h00 * e.spline_values[k, ln] + h10 * e.spline_derivatives[k, ln]
                + h01 * e.spline_values[k + 1, ln] + h11 * e.spline_derivatives[k + 1, ln]
            )
        inv_r = 1.0 / r
        _spherical_harmonics(e.vectors[pair, 0] * inv_r, e.vectors[pair, 1] * inv_r, e.vectors[pair, 2] * inv_r,
                             l_max, e.prefactors, q, harmonics)
        a = e.neighbor_species[pair]
        for l in range(l_max + 1):
            for lm in range(l * l, (l + 1) * (l + 1)):
                y = harmonics[lm]
                for n in range(n_max):
                    coefficients[a, lm, n] += y * radial[l * n_max + n]
    if e.center_weight != 0.0:
        # the centre as its own neighbour at r = 0: only l = 0, and f_c(0) = 1 (w <= r_c)
        y00 = 0.5 / math.sqrt(math.pi)
        for n in range(n_max):
            coefficients[e.center_species[center], 0, n] += e.center_weight * y00 * e.spline_values[0, n]


@njit(cache=True, parallel=True)
def expansion_kernel(centres, unit_offsets, rows, scales, e, out):
    """out[rows[k]] += scales[k] · c(centres[k]) (out: (n_rows, n_species, (l_max+1)², n_max))."""
    for unit in prange(unit_offsets.shape[0] - 1):
        coefficients, radial, harmonics, q = _buffers(e)
        for k in range(unit_offsets[unit], unit_offsets[unit + 1]):
            _expand_centre(centres[k], e, coefficients, radial, harmonics, q)
            out[rows[k]] += scales[k] * coefficients


@njit(cache=True, parallel=True)
def power_spectrum_kernel(centres, unit_offsets, rows, scales, e, out):
    """out[rows[k]] += scales[k] · p(centres[k]), p[ab, l, n1, n2] for species pairs a ≤ b."""
    n_max, l_max, n_species = e.n_max, e.l_max, e.n_species
    n_pair_block = (l_max + 1) * n_max * n_max
    sqrt2 = math.sqrt(2.0)
    for unit in prange(unit_offsets.shape[0] - 1):
        coefficients, radial, harmonics, q = _buffers(e)
        for k in range(unit_offsets[unit], unit_offsets[unit + 1]):
            _expand_centre(centres[k], e, coefficients, radial, harmonics, q)
            row = rows[k]
            pair_index = 0
            for a in range(n_species):
                for b in range(a, n_species):
                    species_factor = scales[k] * (1.0 if a == b else sqrt2)
                    base = pair_index * n_pair_block
                    for l in range(l_max + 1):
                        factor = species_factor * (-1.0 if l % 2 else 1.0) / math.sqrt(2 * l + 1)
                        offset = base + l * n_max * n_max
                        for n1 in range(n_max):
                            for n2 in range(n_max):
                                total = 0.0
                                for lm in range(l * l, (l + 1) * (l + 1)):
                                    total += coefficients[a, lm, n1] * coefficients[b, lm, n2]
                                out[row, offset + n1 * n_max + n2] += factor * total
                    pair_index += 1


@njit(cache=True, parallel=True)
def radial_spectrum_kernel(centres, unit_offsets, rows, scales, e, out):
    """out[rows[k]] += scales[k] · c(centres[k])[a, l=0, n] (the expansion has l_max = 0)."""
    for unit in prange(unit_offsets.shape[0] - 1):
        coefficients, radial, harmonics, q = _buffers(e)
        for k in range(unit_offsets[unit], unit_offsets[unit + 1]):
            _expand_centre(centres[k], e, coefficients, radial, harmonics, q)
            row = rows[k]
            for a in range(e.n_species):
                for n in range(e.n_max):
                    out[row, a * e.n_max + n] += scales[k] * coefficients[a, 0, n]
