"""Atom-centred descriptors: the spherical expansion and the SOAP power and radial spectra built on
it (featomic 0.6 definitions).

See ``soap`` for the public calculators, ``equivariant`` for λ-SOAP, its invariant block and the
ν=3 bispectrum (NICE-compressed or not), ``_coupling`` for the real Clebsch–Gordan coupling,
``_radial`` for the spline tables of the radial integral, ``_spherical`` for the array code shared
by numpy and cupy, ``_numba`` for the CPU kernels (one expansion routine, one contraction per
descriptor), ``lode`` for the long-range (LODE) expansion and its multi-scale invariants,
``_lode_radial`` for their k-space pieces.
"""

from __future__ import annotations

import inspect

from .equivariant import EquivariantPowerSpectrum, LambdaSoapInvariants, SoapBispectrum
from .lode import LodePowerSpectrum, LodeSphericalExpansion, SoapLodePowerSpectrum
from .soap import SoapPowerSpectrum, SoapRadialSpectrum, SphericalExpansion

__all__ = ["SphericalExpansion", "SoapPowerSpectrum", "SoapRadialSpectrum", "EquivariantPowerSpectrum",
           "LambdaSoapInvariants", "SoapBispectrum", "LodeSphericalExpansion", "LodePowerSpectrum",
           "SoapLodePowerSpectrum", "DESCRIPTORS", "COMMON_HYPERS", "extra_hypers", "make_descriptor"]

#: the invariant descriptors a map can be made of: name -> (label, class). Every class takes the
#: common hyperparameters (cutoff, n_max, l_max, density_width; also smoothing_width,
#: center_weight, species) plus its ``EXTRA_HYPERS``, each with a default; and has species_for /
#: n_features / feature_names(species) / compute(frames, per, backend, *, species,
#: selected_samples, dtype, progress) -> (n_rows, n_features). A class with ``needs_fit`` True
#: (a compressed bispectrum) must be ``fit(frames)`` before ``compute``.
DESCRIPTORS = {
    "soap": ("SOAP power spectrum (ν = 2)", SoapPowerSpectrum),
    "radial": ("radial spectrum (ν = 1)", SoapRadialSpectrum),
    "bispectrum": ("bispectrum (ν = 3)", SoapBispectrum),
    "lambda-soap": ("λ-SOAP invariants (λ = 0 block)", LambdaSoapInvariants),
    "soap-lode": ("SOAP + LODE, periodic only", SoapLodePowerSpectrum),
}

#: the hyperparameters every descriptor of DESCRIPTORS takes
COMMON_HYPERS = ("cutoff", "n_max", "l_max", "density_width")


def extra_hypers(name: str) -> tuple:
    """``(name, label, min, max, step, default)`` of each hyperparameter of descriptor ``name``
    beyond :data:`COMMON_HYPERS` that a form should offer (empty for most)."""
    return _entry(name)[1].EXTRA_HYPERS


def _entry(name: str):
    if name not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {name!r}: choose one of {', '.join(DESCRIPTORS)}")
    return DESCRIPTORS[name]


def make_descriptor(name: str, **hypers):
    """The descriptor called ``name`` in :data:`DESCRIPTORS` with these hyperparameters (an unknown
    one is a ValueError naming it and listing those the descriptor takes)."""
    cls = _entry(name)[1]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(hypers) - set(accepted))
    if unknown:
        raise ValueError(f"descriptor {name!r} takes no hyperparameter {', '.join(unknown)}: it takes {', '.join(accepted)}")
    return cls(**hypers)
