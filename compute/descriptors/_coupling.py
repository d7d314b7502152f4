"""Clebsch–Gordan coupling of real spherical harmonics (the convention of ``_spherical``).

``real_coupling(l1, l2, lam)`` is the real tensor R[μ, m1, m2] such that, for coefficients a and b
that rotate like the real harmonics of degrees l1 and l2 (as density coefficients c[lm] do),
``T[μ] = Σ R[μ, m1, m2] a[m1] b[m2]`` rotates like the real harmonics of degree λ (times the
parity (-1)^(l1+l2+λ) under inversion: σ in the λ-SOAP literature).

How: the standard complex Clebsch–Gordan coefficients (Racah's formula, exact in rationals),
changed to our real basis with the unitary U_l that maps complex harmonics (Condon–Shortley
phase) to ours: Y_real = U_l Y_complex. The product is real when l1 + l2 + λ is even and purely
imaginary when it is odd; the imaginary part is taken then (an overall constant phase, which
keeps the coupling orthogonal).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import numpy as np


def complex_to_real(l: int) -> np.ndarray:
    """U_l ((2l+1) × (2l+1), rows: our real m = −l … l, columns: complex M = −l … l).

    Ours (``_spherical.real_spherical_harmonics``, no net Condon–Shortley phase):
    m > 0: √2 K P̃ cos mφ = ((−1)^m Y^m + Y^−m)/√2; m < 0: ((−1)^|m| Y^|m| − Y^−|m|)/(i√2);
    m = 0: Y^0 (Y^M complex with the phase, Y^−M = (−1)^M conj Y^M).
    """
    u = np.zeros((2 * l + 1, 2 * l + 1), dtype=complex)
    s = 1 / math.sqrt(2)
    for m in range(-l, l + 1):
        row = m + l
        if m == 0:
            u[row, l] = 1.0
        elif m > 0:
            u[row, l + m] = (-1) ** m * s
            u[row, l - m] = s
        else:
            k = -m
            u[row, l + k] = (-1) ** k * s / 1j
            u[row, l - k] = -s / 1j
    return u


@functools.lru_cache(maxsize=None)
def _cg(j1: int, m1: int, j2: int, m2: int, j: int, m: int) -> float:
    """<j1 m1 j2 m2 | j m>, Racah's formula in exact rationals (then one square root)."""
    if m1 + m2 != m or not abs(j1 - j2) <= j <= j1 + j2 or abs(m1) > j1 or abs(m2) > j2 or abs(m) > j:
        return 0.0
    f = math.factorial
    prefactor = Fraction((2 * j + 1) * f(j1 + j2 - j) * f(j1 - j2 + j) * f(-j1 + j2 + j), f(j1 + j2 + j + 1))
    prefactor *= f(j + m) * f(j - m) * f(j1 - m1) * f(j1 + m1) * f(j2 - m2) * f(j2 + m2)
    total = Fraction(0)
    for k in range(max(0, j2 - j - m1, j1 - j + m2), min(j1 + j2 - j, j1 - m1, j2 + m2) + 1):
        total += Fraction((-1) ** k, f(k) * f(j1 + j2 - j - k) * f(j1 - m1 - k) * f(j2 + m2 - k) * f(j - j2 + m1 + k)
                          * f(j - j1 - m2 + k))
    sign = 1 if total >= 0 else -1
    return sign * math.sqrt(prefactor * total * total)


@functools.lru_cache(maxsize=None)
def real_coupling(l1: int, l2: int, lam: int) -> np.ndarray:
    """R[μ, m1, m2] (2λ+1, 2l1+1, 2l2+1), real; see the module docstring."""
    if not abs(l1 - l2) <= lam <= l1 + l2:
        raise ValueError(f"λ={lam} cannot couple l1={l1} and l2={l2}")
    complex_cg = np.zeros((2 * lam + 1, 2 * l1 + 1, 2 * l2 + 1))
    for m1 in range(-l1, l1 + 1):
        for m2 in range(-l2, l2 + 1):
            m = m1 + m2
            if abs(m) <= lam:
                complex_cg[m + lam, m1 + l1, m2 + l2] = _cg(l1, m1, l2, m2, lam, m)
    u_lam, u1, u2 = complex_to_real(lam), complex_to_real(l1), complex_to_real(l2)
    # coefficients a (real basis) = U a' (complex basis): a' = U^H a
    coupled = np.einsum("uM,MAB,Aa,Bb->uab", u_lam, complex_cg, u1.conj().T, u2.conj().T)
    part = coupled.real if (l1 + l2 + lam) % 2 == 0 else coupled.imag
    return np.ascontiguousarray(part)
