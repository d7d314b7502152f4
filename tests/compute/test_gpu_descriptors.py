"""The CuPy paths of the descriptors beyond the power spectrum (λ-SOAP, ν=3 with and without NICE
compression, the λ-SOAP invariant block, LODE, SOAP+LODE) equal their NumPy paths. Run where a GPU
is lent (``-m gpu``); skipped elsewhere, like every ``gpu`` test."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import bulk, molecule

from compute import _dispatch
from compute.descriptors import (EquivariantPowerSpectrum, LambdaSoapInvariants, LodePowerSpectrum, LodeSphericalExpansion,
                                 SoapBispectrum, SoapLodePowerSpectrum)

gpu = pytest.mark.skipif(not _dispatch.cupy_available(), reason="needs CuPy with a CUDA device")
pytestmark = [pytest.mark.gpu, gpu]

HYPERS = dict(cutoff=3.5, n_max=3, l_max=2, density_width=0.4)


def _molecules():
    return [molecule(name) for name in ("H2O", "CH3OH", "NH3", "CH3CHO")]


def _crystals():
    nacl = bulk("NaCl", "rocksalt", a=5.6)
    nacl.rattle(0.05, seed=1)
    return [nacl, bulk("Si", "diamond", a=5.43)]


def _host(values):
    return _dispatch.to_numpy(values)


@pytest.mark.parametrize("per", ["atom", "structure"])
def test_lambda_soap_on_the_gpu_equals_numpy(per):
    descriptor = EquivariantPowerSpectrum(**HYPERS)
    on_cpu = descriptor.compute(_molecules(), per=per, backend="numpy")
    on_gpu = descriptor.compute(_molecules(), per=per, backend="cupy")
    assert set(on_cpu) == set(on_gpu)
    for key in on_cpu:
        np.testing.assert_allclose(_host(on_gpu[key]), on_cpu[key], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("compression", [None, 3])
def test_bispectrum_on_the_gpu_equals_numpy(compression):
    frames = _molecules()
    descriptor = SoapBispectrum(**HYPERS, compression=compression)
    if compression:
        descriptor.fit(frames, backend="numpy")
    np.testing.assert_allclose(_host(descriptor.compute(frames, per="atom", backend="cupy")),
                               descriptor.compute(frames, per="atom", backend="numpy"), rtol=1e-9, atol=1e-12)


def test_lambda_soap_invariants_on_the_gpu_equal_numpy():
    descriptor = LambdaSoapInvariants(**HYPERS)
    np.testing.assert_allclose(_host(descriptor.compute(_molecules(), per="structure", backend="cupy")),
                               descriptor.compute(_molecules(), per="structure", backend="numpy"), rtol=1e-9, atol=1e-12)


def test_lode_on_the_gpu_equals_numpy():
    frames = _crystals()
    expansion = LodeSphericalExpansion(smearing=1.0, exponent=1, l_max=2, n_max=3, radius=4.0)
    on_cpu = expansion.compute(frames, per="atom", backend="numpy")
    on_gpu = expansion.compute(frames, per="atom", backend="cupy")
    for key in on_cpu:
        np.testing.assert_allclose(_host(on_gpu[key]), on_cpu[key], rtol=1e-9, atol=1e-12)
    for descriptor in (LodePowerSpectrum(**HYPERS), SoapLodePowerSpectrum(**HYPERS)):
        np.testing.assert_allclose(_host(descriptor.compute(frames, per="structure", backend="cupy")),
                                   descriptor.compute(frames, per="structure", backend="numpy"), rtol=1e-9, atol=1e-12)
