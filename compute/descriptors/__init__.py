"""Atom-centred descriptors: SOAP power and radial spectra (featomic 0.6 definitions).

See ``soap`` for the public calculators, ``_radial`` for the spline tables of the radial
integral, ``_spherical`` for the array code shared by numpy and cupy, ``_numba`` for the fused
CPU kernels.
"""

from .soap import SoapPowerSpectrum, SoapRadialSpectrum

__all__ = ["SoapPowerSpectrum", "SoapRadialSpectrum"]
