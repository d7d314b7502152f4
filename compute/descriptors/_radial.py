"""Radial integral of a Gaussian atom density on the orthonormalised GTO basis, as spline tables.

The definitions are featomic 0.6's (see the project's SOAP notes): GTO radial functions
R_n(r) ∝ rⁿ exp(−r²/2σ_n²), σ_n = r_c·max(√n, 1)/N, orthonormalised symmetrically (Löwdin), and
the radial integral of a Gaussian density of width σ, which has a closed form with Kummer's
confluent hypergeometric function ₁F₁.

₁F₁ is costly, so it is evaluated once per hyperparameter set on a uniform grid over [0, r_c]
(values and exact derivatives), and every backend then only evaluates cubic Hermite splines.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, hyp1f1


def gto_widths(cutoff: float, n_max: int) -> np.ndarray:
    """σ_n = r_c · max(√n, 1) / N for n = 0 … N−1."""
    n = np.arange(n_max, dtype=np.float64)
    return cutoff * np.maximum(np.sqrt(n), 1.0) / n_max


def gto_orthonormalisation(cutoff: float, n_max: int) -> np.ndarray:
    """T = S^(−1/2) · diag(𝒩): maps the raw integrals of rⁿ exp(−b_n r²) onto the orthonormal basis."""
    n = np.arange(n_max, dtype=np.float64)
    sigma = gto_widths(cutoff, n_max)
    b = 1.0 / (2.0 * sigma**2)
    # 𝒩_n = sqrt(2 / (σ_n^(2n+3) Γ(n+3/2))), in logs to stay finite for large n
    log_norm = 0.5 * (np.log(2.0) - (2 * n + 3) * np.log(sigma) - gammaln(n + 1.5))
    nm = n[:, None] + n[None, :]
    log_overlap = (
        log_norm[:, None] + log_norm[None, :] + np.log(0.5) + gammaln((nm + 3) / 2)
        - (nm + 3) / 2 * np.log(b[:, None] + b[None, :])
    )
    overlap = np.exp(log_overlap)
    eigenvalues, eigenvectors = np.linalg.eigh(overlap)
    inverse_sqrt = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
    return inverse_sqrt * np.exp(log_norm)[None, :]


def _raw_radial_integral(r: np.ndarray, cutoff: float, n_max: int, l_max: int, density_width: float):
    """I⁰_nl(r) and dI⁰_nl/dr on the raw (unnormalised) GTOs, shape (len(r), l_max+1, n_max)."""
    r = np.asarray(r, dtype=np.float64)[:, None, None]
    l = np.arange(l_max + 1, dtype=np.float64)[None, :, None]
    n = np.arange(n_max, dtype=np.float64)[None, None, :]
    c = 1.0 / (2.0 * density_width**2)
    b = (1.0 / (2.0 * gto_widths(cutoff, n_max) ** 2))[None, None, :]

    a_param = (n + l + 3) / 2
    b_param = l + 1.5
    z = c**2 / (c + b)
    x = z * r**2
    # Kummer's transformation e^(−c r²) ₁F₁(a; b; z r²) = e^((z − c) r²) ₁F₁(b − a; b; −z r²)
    # keeps every factor finite for any cutoff and density width (z − c < 0).
    log_prefactor = (
        0.75 * np.log(np.pi / density_width**2)
        + gammaln(a_param) - gammaln(b_param)
        - a_param * np.log(c + b)
    )
    damping = np.exp((z - c) * r**2 + log_prefactor)
    power = (c * r) ** l
    hyper = hyp1f1(b_param - a_param, b_param, -x)
    # d/dx ₁F₁(α; β; −x) = −(α/β) ₁F₁(α+1; β+1; −x)
    d_hyper_dx = -(b_param - a_param) / b_param * hyp1f1(b_param - a_param + 1, b_param + 1, -x)

    values = damping * power * hyper
    # d/dr of each factor: damping → 2(z−c)r, power → l/r (written as l c (cr)^(l−1)), ₁F₁ → 2 z r
    with np.errstate(divide="ignore", invalid="ignore"):
        d_power = np.where(l > 0, l * c * (c * r) ** np.maximum(l - 1, 0), 0.0)
    derivatives = damping * (
        2 * (z - c) * r * power * hyper + d_power * hyper + power * d_hyper_dx * 2 * z * r
    )
    return values, derivatives


@dataclass(frozen=True)
class RadialSplines:
    """Cubic Hermite tables of I_nl(r) on a uniform grid over [0, cutoff].

    ``values`` and ``derivatives`` have shape (n_points, (l_max+1)·n_max), l slowest, so one
    pair's radial integrals for every (l, n) are one contiguous row after interpolation.
    """

    cutoff: float
    n_max: int
    l_max: int
    step: float
    values: np.ndarray
    derivatives: np.ndarray

    @property
    def n_points(self) -> int:
        return self.values.shape[0]

    def evaluate(self, r, xp=np):
        """I_nl(r) for distances r (any shape-(P,) array of xp), shape (P, (l_max+1)·n_max)."""
        values = xp.asarray(self.values)
        derivatives = xp.asarray(self.derivatives)
        position = r / self.step
        k = xp.clip(xp.floor(position).astype(xp.int64), 0, self.n_points - 2)
        t = (position - k)[:, None]
        t2 = t * t
        t3 = t2 * t
        return (
            (2 * t3 - 3 * t2 + 1) * values[k]
            + (t3 - 2 * t2 + t) * self.step * derivatives[k]
            + (-2 * t3 + 3 * t2) * values[k + 1]
            + (t3 - t2) * self.step * derivatives[k + 1]
        )


@functools.lru_cache(maxsize=16)
def radial_splines(cutoff: float, n_max: int, l_max: int, density_width: float) -> RadialSplines:
    """Spline tables for one hyperparameter set (cached: ₁F₁ is the only costly part).

    The grid step keeps the Hermite interpolation error near 1e-10 relative: the integrals vary on
    the scale of the density width and of the narrowest GTO.
    """
    scale = min(density_width, float(gto_widths(cutoff, n_max)[0]))
    step = min(0.01, scale / 40.0)
    n_points = int(np.ceil(cutoff / step)) + 1
    step = cutoff / (n_points - 1)
    r = np.linspace(0.0, cutoff, n_points)
    raw_values, raw_derivatives = _raw_radial_integral(r, cutoff, n_max, l_max, density_width)
    transform = gto_orthonormalisation(cutoff, n_max)
    # I_nl = Σ_m T_nm I⁰_ml
    values = np.einsum("nm,plm->pln", transform, raw_values)
    derivatives = np.einsum("nm,plm->pln", transform, raw_derivatives)
    shape = (n_points, (l_max + 1) * n_max)
    return RadialSplines(
        cutoff=cutoff, n_max=n_max, l_max=l_max, step=step,
        values=np.ascontiguousarray(values.reshape(shape)),
        derivatives=np.ascontiguousarray(derivatives.reshape(shape)),
    )
