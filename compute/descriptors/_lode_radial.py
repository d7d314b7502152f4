"""k-space pieces of LODE (featomic 0.6 definitions, written from its equations; see docs/descriptors.md).

* the Fourier transform of the smeared power-law potential φ̃(k) (exponent p, smearing σ);
* the radial integral of the orthonormalised GTO basis against spherical Bessel functions,
  I_nl(k) = Σ_m T_nm ∫ r² r^m exp(−r²/2σ_m²) j_l(kr) dr, tabulated once per hyperparameter set as
  cubic Hermite splines over [0, k_cutoff] (``_radial.RadialSplines``);
* the k = 0 term (p = 0 or p > 3) and the centre's own contribution (used when
  ``center_weight != 1``), both only for l = 0.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import exp1, gamma, gammaincc, gammaln, hyp1f1, hyp2f1

from ._radial import RadialSplines, gto_orthonormalisation, gto_widths


def _upper_incomplete_gamma(a: float, x: np.ndarray) -> np.ndarray:
    """Γ(a, x) for any real a (x > 0): scipy for a > 0, E₁ for a = 0, and the recurrence
    Γ(a, x) = (Γ(a+1, x) − x^a e^(−x)) / a downwards for a < 0 (p > 3 gives negative a)."""
    if a > 0:
        return gamma(a) * gammaincc(a, x)
    if a == 0:
        return exp1(x)
    return (_upper_incomplete_gamma(a + 1, x) - x**a * np.exp(-x)) / a


def density_fourier(k: np.ndarray, smearing: float, exponent: int) -> np.ndarray:
    """φ̃(k) for k > 0.

    p = 0 (a Gaussian): (4πσ²)^(3/4) e^(−k²σ²/2);
    p ≥ 1: π^(3/2) (2σ²)^((3−p)/2) / Γ(p/2) · x^((p−3)/2) Γ((3−p)/2, x), x = k²σ²/2
    (p = 1 is 4π e^(−x) / k², the smeared Coulomb potential).
    """
    k = np.asarray(k, dtype=np.float64)
    s2 = smearing * smearing
    x = 0.5 * k * k * s2
    if exponent == 0:
        return (4 * math.pi * s2) ** 0.75 * np.exp(-x)
    if exponent == 1:  # the common case, written directly (no cancellation for small x)
        return 4 * math.pi * np.exp(-x) / (k * k)
    p_eff = 3.0 - exponent
    factor = math.pi**1.5 * (2 * s2) ** (0.5 * p_eff) / gamma(0.5 * exponent)
    return factor * x ** (-0.5 * p_eff) * _upper_incomplete_gamma(0.5 * p_eff, x)


def k0_factor(smearing: float, exponent: int) -> float:
    """The k = 0 term's factor (multiplies N_a · 4π/V · I_n0(0)); zero for p = 1, 2, 3."""
    if exponent == 0:
        s2 = smearing * smearing
        return (2 * math.pi * s2) ** 1.5 / (math.pi * s2) ** 0.75 / math.sqrt(4 * math.pi)
    if exponent > 3:
        p_eff = 3.0 - exponent
        return (0.5 * math.pi * 2.0**p_eff / gamma(0.5 * exponent) * 2.0 ** ((exponent - 1) / 2) / -p_eff
                * smearing ** (-p_eff) / smearing ** (2 * exponent - 6))
    return 0.0


def _raw_integral(k: np.ndarray, radius: float, n_max: int, l_max: int):
    """I⁰_nl(k) = ∫ r^(n+2) e^(−r²/2σ_n²) j_l(kr) dr and its k-derivative, shape (len(k), l_max+1, n_max).

    = √(π/2) σ_n^(n+3) 2^(n/2) (kσ_n/√2)^l Γ(a)/Γ(b) ₁F₁(a; b; −k²σ_n²/2), a = (n+l+3)/2, b = l+3/2.
    ₁F₁ of a large negative argument is taken through Kummer's transformation
    ₁F₁(a; b; −z) = e^(−z) ₁F₁(b−a; b; z), which stays accurate at the largest k·σ_n.
    """
    k = np.asarray(k, dtype=np.float64)[:, None, None]
    l = np.arange(l_max + 1, dtype=np.float64)[None, :, None]
    n = np.arange(n_max, dtype=np.float64)[None, None, :]
    sigma = gto_widths(radius, n_max)[None, None, :]
    a = 0.5 * (n + l + 3)
    b = l + 1.5
    z = 0.5 * k * k * sigma * sigma
    ratio = np.exp(gammaln(a) - gammaln(b))
    g = ratio * np.exp(-z) * hyp1f1(b - a, b, z)
    # d/dz ₁F₁(a; b; −z) = −(a/b) ₁F₁(a+1; b+1; −z)
    dg_dz = -ratio * (a / b) * np.exp(-z) * hyp1f1(b - a, b + 1, z)
    base = math.sqrt(math.pi / 2) * sigma ** (n + 3) * 2.0 ** (0.5 * n)
    scaled = k * sigma / math.sqrt(2.0)
    power = scaled**l
    values = base * power * g
    # d/dk (kσ/√2)^l = l σ/√2 (kσ/√2)^(l−1) (finite at k = 0 for every l), dz/dk = kσ²
    with np.errstate(divide="ignore", invalid="ignore"):
        d_power = np.where(l > 0, l * sigma / math.sqrt(2.0) * scaled ** np.maximum(l - 1, 0), 0.0)
    derivatives = base * (d_power * g + power * dg_dz * k * sigma * sigma)
    return values, derivatives


@functools.lru_cache(maxsize=16)
def lode_radial_splines(radius: float, n_max: int, l_max: int, k_cutoff: float) -> RadialSplines:
    """Cubic Hermite tables of I_nl(k) over [0, k_cutoff] (``RadialSplines.cutoff`` is k_cutoff).

    The integrals vary on the scale 1/σ_max of the widest GTO; 200 points per 1/σ_max keep the
    interpolation error near 1e-10 relative.
    """
    scale = 1.0 / float(gto_widths(radius, n_max).max())
    step = min(0.01, scale / 200.0)
    n_points = int(np.ceil(k_cutoff / step)) + 1
    step = k_cutoff / (n_points - 1)
    k = np.linspace(0.0, k_cutoff, n_points)
    raw_values, raw_derivatives = _raw_integral(k, radius, n_max, l_max)
    transform = gto_orthonormalisation(radius, n_max)
    values = np.einsum("nm,plm->pln", transform, raw_values)
    derivatives = np.einsum("nm,plm->pln", transform, raw_derivatives)
    shape = (n_points, (l_max + 1) * n_max)
    return RadialSplines(cutoff=k_cutoff, n_max=n_max, l_max=l_max, step=step,
                         values=np.ascontiguousarray(values.reshape(shape)),
                         derivatives=np.ascontiguousarray(derivatives.reshape(shape)))


def radial_at_zero(radius: float, n_max: int) -> np.ndarray:
    """I_n0(0) on the orthonormal basis (the k = 0 term's radial part)."""
    values, _ = _raw_integral(np.zeros(1), radius, n_max, 0)
    return gto_orthonormalisation(radius, n_max) @ values[0, 0]


def center_contribution(smearing: float, exponent: int, radius: float, n_max: int) -> np.ndarray:
    """The centre's own (l = 0) coefficient of its potential, straight from r-space.

    p = 0: π^(−1/4) σ^(−3/2) Γ(n_eff) / α_n^n_eff, α_n = (1/σ² + 1/σ_n²)/2;
    p ≥ 1: 2√(4π) / (Γ(p/2) p) · 2^((1+n−p)/2) σ^(3+n−p) Γ(n_eff) ₂F₁(1, n_eff; (p+2)/2; h_n) h_n^n_eff,
    h_n = 1 / (1 + σ²/σ_n²); n_eff = (n+3)/2; then orthonormalised.
    """
    n = np.arange(n_max, dtype=np.float64)
    sigma_n = gto_widths(radius, n_max)
    n_eff = 0.5 * (3 + n)
    if exponent == 0:
        alpha = 0.5 * (1 / smearing**2 + 1 / sigma_n**2)
        raw = math.pi**-0.25 / smearing**1.5 * gamma(n_eff) / alpha**n_eff
    else:
        h = 1.0 / (1.0 + (smearing / sigma_n) ** 2)
        raw = (2 * math.sqrt(4 * math.pi) / gamma(exponent / 2) / exponent
               * 2.0 ** ((1 + n - exponent) / 2) * smearing ** (3 + n - exponent)
               * gamma(n_eff) * hyp2f1(1.0, n_eff, (exponent + 2) / 2, h) * h**n_eff)
    return gto_orthonormalisation(radius, n_max) @ raw
