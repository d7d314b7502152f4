"""Fused, parallel CPU kernels for SOAP (backend "numba").

One pass per centre: interpolate the radial splines, build the real spherical harmonics by
recurrence, accumulate the density coefficients in a small per-centre buffer, and contract them
into the power spectrum row, without any per-pair intermediate array. All checks live in the
Python wrapper (``compute.descriptors.soap``); kernels take plain contiguous arrays.

Work is split into "units" of consecutive centres that write to disjoint output rows: single
centres in per-atom mode, whole structures in per-structure mode (whose rows are sums over the
structure's atoms), so ``prange`` over units never races.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


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
def _density_expansion(
    center, pair_offsets, neighbor_species, vectors, distances, center_species,
    spline_values, spline_derivatives, spline_step, cutoff, smoothing_width, center_weight,
    n_max, l_max, prefactors, coefficients, radial, harmonics, q,
):
    """c[a, lm, n] of one centre into ``coefficients`` (zeroed here)."""
    coefficients[:] = 0.0
    n_points = spline_values.shape[0]
    n_radial = (l_max + 1) * n_max
    for pair in range(pair_offsets[center], pair_offsets[center + 1]):
        r = distances[pair]
        # shifted-cosine cutoff
        if r <= cutoff - smoothing_width:
            fc = 1.0
        else:
            fc = 0.5 * (1.0 + math.cos(math.pi * (r - cutoff + smoothing_width) / smoothing_width))
        # cubic Hermite interpolation of every I_ln(r) at once
        position = r / spline_step
        k = min(int(position), n_points - 2)
        t = position - k
        t2 = t * t
        t3 = t2 * t
        h00 = (2 * t3 - 3 * t2 + 1) * fc
        h10 = (t3 - 2 * t2 + t) * spline_step * fc
        h01 = (-2 * t3 + 3 * t2) * fc
        h11 = (t3 - t2) * spline_step * fc
        for ln in range(n_radial):
            radial[ln] = (
                h00 * spline_values[k, ln] + h10 * spline_derivatives[k, ln]
                + h01 * spline_values[k + 1, ln] + h11 * spline_derivatives[k + 1, ln]
            )
        inv_r = 1.0 / r
        _spherical_harmonics(
            vectors[pair, 0] * inv_r, vectors[pair, 1] * inv_r, vectors[pair, 2] * inv_r,
            l_max, prefactors, q, harmonics,
        )
        a = neighbor_species[pair]
        for l in range(l_max + 1):
            for lm in range(l * l, (l + 1) * (l + 1)):
                y = harmonics[lm]
                for n in range(n_max):
                    coefficients[a, lm, n] += y * radial[l * n_max + n]
    if center_weight != 0.0:
        # the centre as its own neighbour at r = 0: only l = 0, and f_c(0) = 1 (w <= r_c)
        y00 = 0.5 / math.sqrt(math.pi)
        fc0 = 1.0
        for n in range(n_max):
            coefficients[center_species[center], 0, n] += center_weight * fc0 * y00 * spline_values[0, n]


@njit(cache=True, parallel=True)
def _power_spectrum_kernel(
    unit_offsets, rows, scales, pair_offsets, neighbor_species, vectors, distances,
    center_species, n_species, spline_values, spline_derivatives, spline_step, cutoff,
    smoothing_width, center_weight, n_max, l_max, prefactors, out,
):
    """out[rows[i]] += scales[i] · p(i) for every centre i; units of centres run in parallel."""
    n_lm = (l_max + 1) * (l_max + 1)
    n_pair_block = (l_max + 1) * n_max * n_max
    sqrt2 = math.sqrt(2.0)
    for unit in prange(unit_offsets.shape[0] - 1):
        coefficients = np.empty((n_species, n_lm, n_max))
        radial = np.empty((l_max + 1) * n_max)
        harmonics = np.empty(n_lm)
        q = np.zeros((l_max + 1, l_max + 1))
        for center in range(unit_offsets[unit], unit_offsets[unit + 1]):
            _density_expansion(
                center, pair_offsets, neighbor_species, vectors, distances, center_species,
                spline_values, spline_derivatives, spline_step, cutoff, smoothing_width,
                center_weight, n_max, l_max, prefactors, coefficients, radial, harmonics, q,
            )
            row = rows[center]
            scale = scales[center]
            pair_index = 0
            for a in range(n_species):
                for b in range(a, n_species):
                    species_factor = scale * (1.0 if a == b else sqrt2)
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
def _radial_spectrum_kernel(
    unit_offsets, rows, scales, pair_offsets, neighbor_species, vectors, distances,
    center_species, n_species, spline_values, spline_derivatives, spline_step, cutoff,
    smoothing_width, center_weight, n_max, l_max, prefactors, out,
):
    """out[rows[i]] += scales[i] · c(i)[a, l=0, n]; the radial tables hold l = 0 only (l_max = 0),
    the signature is the power spectrum kernel's so both are called the same way."""
    for unit in prange(unit_offsets.shape[0] - 1):
        coefficients = np.empty((n_species, 1, n_max))
        radial = np.empty(n_max)
        harmonics = np.empty(1)
        q = np.zeros((1, 1))
        for center in range(unit_offsets[unit], unit_offsets[unit + 1]):
            _density_expansion(
                center, pair_offsets, neighbor_species, vectors, distances, center_species,
                spline_values, spline_derivatives, spline_step, cutoff, smoothing_width,
                center_weight, n_max, 0, prefactors, coefficients, radial, harmonics, q,
            )
            row = rows[center]
            for a in range(n_species):
                for n in range(n_max):
                    out[row, a * n_max + n] += scales[center] * coefficients[a, 0, n]

