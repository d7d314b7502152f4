"""SOAP written once as array code over ``xp`` (numpy or cupy).

This is the readable reference (backend "numpy") and, run on cupy arrays, the GPU path (backend
"cupy"). Each step is a whole-array operation: spline evaluation, real spherical harmonics by
recurrence, a scatter-add of neighbour contributions into density coefficients, and batched
matrix products for the power spectrum.
"""

from __future__ import annotations

import math

import numpy as np

from .._dispatch import scatter_add


def harmonic_index(l: int, m: int) -> int:
    """Column of Y_lm in a (l_max+1)² array: l², then m = −l … l."""
    return l * l + l + m


def harmonic_prefactors(l_max: int) -> np.ndarray:
    """K_lm = sqrt((2l+1)/4π · (l−m)!/(l+m)!), times √2 for m > 0, as a table indexed [l, m ≥ 0]."""
    table = np.zeros((l_max + 1, l_max + 1))
    for l in range(l_max + 1):
        for m in range(l + 1):
            log_ratio = math.lgamma(l - m + 1) - math.lgamma(l + m + 1)
            table[l, m] = math.sqrt((2 * l + 1) / (4 * math.pi) * math.exp(log_ratio)) * (math.sqrt(2.0) if m else 1.0)
    return table


def real_spherical_harmonics(unit_vectors, l_max: int, xp=np):
    """Real orthonormal Y_lm of unit vectors, shape (P, (l_max+1)²), no net Condon–Shortley phase.

    Y_lm = K_lm · Q_l^|m|(z) · Re (x+iy)^m for m ≥ 0 and · Im (x+iy)^|m| for m < 0, where
    Q_l^m(z) = P_l^m(z) / sin^m θ is the associated Legendre polynomial without the phase.
    """
    x, y, z = unit_vectors[:, 0], unit_vectors[:, 1], unit_vectors[:, 2]
    n = unit_vectors.shape[0]
    out = xp.empty((n, (l_max + 1) ** 2), dtype=unit_vectors.dtype)
    prefactors = harmonic_prefactors(l_max)

    cos_m = [xp.ones_like(x)]  # Re (x+iy)^m
    sin_m = [xp.zeros_like(x)]  # Im (x+iy)^m
    for m in range(1, l_max + 1):
        cos_m.append(x * cos_m[m - 1] - y * sin_m[m - 1])
        sin_m.append(x * sin_m[m - 1] + y * cos_m[m - 1])

    for m in range(l_max + 1):
        # Q_m^m = (2m−1)!!, Q_{m+1}^m = (2m+1) z Q_m^m, then the three-term recurrence in l
        q_mm = float(np.prod(np.arange(2 * m - 1, 0, -2))) if m > 0 else 1.0
        q_prev = None
        q = xp.full_like(z, q_mm)
        for l in range(m, l_max + 1):
            if l == m + 1:
                q_prev, q = q, (2 * m + 1) * z * q
            elif l > m + 1:
                q_prev, q = q, ((2 * l - 1) * z * q - (l + m - 1) * q_prev) / (l - m)
            k = float(prefactors[l, m])
            out[:, harmonic_index(l, m)] = k * q * cos_m[m]
            if m > 0:
                out[:, harmonic_index(l, -m)] = k * q * sin_m[m]
    return out


def cutoff_function(r, cutoff: float, smoothing_width: float, xp=np):
    """Shifted cosine: 1 below r_c − w, ½[1 + cos(π (r − r_c + w)/w)] up to r_c, then 0."""
    start = cutoff - smoothing_width
    if smoothing_width <= 0:
        return xp.where(r < cutoff, 1.0, 0.0)
    s = xp.clip((r - start) / smoothing_width, 0.0, 1.0)
    return 0.5 * (1.0 + xp.cos(math.pi * s))


def density_coefficients(pairs, splines, hypers, n_centers: int, n_species: int, xp=np):
    """c[i, a, lm, n] for every centre i of the batch, shape (n_centers, P, (l_max+1)², n_max).

    ``pairs`` holds xp arrays: ``center`` (local centre index), ``neighbor_species`` (index into
    the species list), ``vectors`` (r_j − r_i), ``distances``; ``center_species`` per centre.
    """
    n_max, l_max = splines.n_max, splines.l_max
    n_lm = (l_max + 1) ** 2
    r = pairs["distances"]
    radial = splines.evaluate(r, xp=xp).reshape(-1, l_max + 1, n_max)
    radial *= cutoff_function(r, hypers["cutoff"], hypers["smoothing_width"], xp=xp)[:, None, None]
    harmonics = real_spherical_harmonics(pairs["vectors"] / r[:, None], l_max, xp=xp)
    # every lm column uses the radial row of its l
    l_of_lm = np.repeat(np.arange(l_max + 1), 2 * np.arange(l_max + 1) + 1)
    contributions = harmonics[:, :, None] * radial[:, xp.asarray(l_of_lm), :]

    coefficients = xp.zeros((n_centers * n_species, n_lm, n_max), dtype=r.dtype)
    rows = pairs["center"] * n_species + pairs["neighbor_species"]
    scatter_add(xp, coefficients, rows, contributions)
    coefficients = coefficients.reshape(n_centers, n_species, n_lm, n_max)

    # the centre is its own neighbour at r = 0 (only l = 0 survives), weighted by center_weight
    if hypers["center_weight"] != 0.0:
        self_term = (
            hypers["center_weight"]
            * float(cutoff_function(np.zeros(1), hypers["cutoff"], hypers["smoothing_width"])[0])
            / math.sqrt(4 * math.pi)
            * xp.asarray(splines.values[0, :n_max])
        )
        centers = xp.arange(n_centers)
        coefficients[centers, pairs["center_species"], 0, :] += self_term
    return coefficients


def power_spectrum(coefficients, l_max: int, xp=np):
    """p[i; ab, l, n1, n2] for species pairs a ≤ b, shape (n_centers, P(P+1)/2 · (l_max+1) · N²).

    Σ_m c_{a n1 lm} c_{b n2 lm} for all (a n1, b n2) at once is one batched matrix product per l.
    """
    n_centers, n_species, _, n_max = coefficients.shape
    pairs_a, pairs_b = np.triu_indices(n_species)
    index_a, index_b = xp.asarray(pairs_a), xp.asarray(pairs_b)
    blocks = []
    for l in range(l_max + 1):
        c_l = coefficients[:, :, l * l : (l + 1) * (l + 1), :]  # (i, a, m, n)
        c_l = c_l.transpose(0, 1, 3, 2).reshape(n_centers, n_species * n_max, 2 * l + 1)
        gram = (c_l @ c_l.transpose(0, 2, 1)).reshape(n_centers, n_species, n_max, n_species, n_max)
        block = gram[:, index_a, :, index_b, :]  # advanced indices first: (pair, i, n1, n2)
        factor = (-1) ** l / math.sqrt(2 * l + 1) * np.where(pairs_a == pairs_b, 1.0, math.sqrt(2.0))
        blocks.append(block * xp.asarray(factor)[:, None, None, None])
    # layout (pair, l, n1, n2), pair slowest
    stacked = xp.stack(blocks, axis=1)  # (pair, l, i, n1, n2)
    return stacked.transpose(2, 0, 1, 3, 4).reshape(n_centers, -1)


def radial_spectrum(coefficients, xp=np):
    """r[i; a, n] = c[i, a, l=0, n], shape (n_centers, P · N)."""
    n_centers = coefficients.shape[0]
    return coefficients[:, :, 0, :].reshape(n_centers, -1)
