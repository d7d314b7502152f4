"""Atom-centred descriptors: the spherical expansion and the SOAP power and radial spectra built on
it (featomic 0.6 definitions).

See ``soap`` for the public calculators, ``equivariant`` for λ-SOAP, ``_coupling`` for the real
Clebsch–Gordan coupling, ``_radial`` for the spline tables of the radial
integral, ``_spherical`` for the array code shared by numpy and cupy, ``_numba`` for the CPU
kernels (one expansion routine, one contraction per descriptor), ``lode`` for the long-range
(LODE) expansion and its multi-scale invariants, ``_lode_radial`` for their k-space pieces.
"""

from .equivariant import EquivariantPowerSpectrum, SoapBispectrum
from .lode import LodePowerSpectrum, LodeSphericalExpansion
from .soap import SoapPowerSpectrum, SoapRadialSpectrum, SphericalExpansion

__all__ = ["SphericalExpansion", "SoapPowerSpectrum", "SoapRadialSpectrum", "EquivariantPowerSpectrum", "SoapBispectrum", "LodeSphericalExpansion",
           "LodePowerSpectrum", "DESCRIPTORS",
           "make_descriptor"]

#: the invariant descriptors a map can be made of: name -> (label, class); every class takes the
#: same hyperparameters (cutoff, n_max, l_max, density_width, smoothing_width, center_weight,
#: species) and has species_for / n_features / feature_names / compute(frames, per, backend, ...)
DESCRIPTORS = {
    "soap": ("SOAP power spectrum (ν = 2)", SoapPowerSpectrum),
    "radial": ("radial spectrum (ν = 1)", SoapRadialSpectrum),
    "bispectrum": ("bispectrum (ν = 3)", SoapBispectrum),
}


def make_descriptor(name: str, **hypers):
    """The descriptor called ``name`` in :data:`DESCRIPTORS` with these hyperparameters."""
    if name not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {name!r}: choose one of {', '.join(DESCRIPTORS)}")
    return DESCRIPTORS[name][1](**hypers)
