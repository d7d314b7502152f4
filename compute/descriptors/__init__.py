"""Atom-centred descriptors: the spherical expansion and the SOAP power and radial spectra built on
it (featomic 0.6 definitions).

See ``soap`` for the public calculators, ``equivariant`` for λ-SOAP, ``_coupling`` for the real
Clebsch–Gordan coupling, ``_radial`` for the spline tables of the radial
integral, ``_spherical`` for the array code shared by numpy and cupy, ``_numba`` for the CPU
kernels (one expansion routine, one contraction per descriptor).
"""

from .equivariant import EquivariantPowerSpectrum, SoapBispectrum
from .soap import SoapPowerSpectrum, SoapRadialSpectrum, SphericalExpansion

__all__ = ["SphericalExpansion", "SoapPowerSpectrum", "SoapRadialSpectrum", "EquivariantPowerSpectrum", "SoapBispectrum"]
