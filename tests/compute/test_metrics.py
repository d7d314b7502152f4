"""compute.metrics: GFRE and GFRD equal to scikit-matter's on real descriptors."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

from compute import metrics
from compute.descriptors import SoapPowerSpectrum, SoapRadialSpectrum

skmatter_metrics = pytest.importorskip("skmatter.metrics")
SAMPLE = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"


@pytest.fixture(scope="module")
def descriptors():
    frames = ase.io.read(SAMPLE, ":160")
    radial = SoapRadialSpectrum(cutoff=4.0, n_max=6).compute(frames, per="structure", backend="numba")
    power = SoapPowerSpectrum(cutoff=4.0, n_max=3, l_max=2).compute(frames, per="structure", backend="numba")
    return radial, power


def test_equal_to_scikit_matter(descriptors):
    radial, power = descriptors
    for X, Y in ((radial, power), (power, radial)):
        assert metrics.global_reconstruction_error(X, Y) == pytest.approx(skmatter_metrics.global_reconstruction_error(X, Y), rel=1e-10)
    # GFRD where scikit-matter can compute it (Y at least as wide as X)
    assert metrics.global_reconstruction_distortion(radial, power) == pytest.approx(
        skmatter_metrics.global_reconstruction_distortion(radial, power), rel=1e-10)
    train, test = np.arange(0, 160, 2), np.arange(1, 160, 2)
    assert metrics.global_reconstruction_error(radial, power, test_idx=test, train_idx=train) == pytest.approx(
        skmatter_metrics.global_reconstruction_error(radial, power, test_idx=test, train_idx=train), rel=1e-10)


def test_what_the_measures_say(descriptors):
    radial, power = descriptors
    # the power spectrum holds the radial information, not the other way round
    assert metrics.global_reconstruction_error(power, radial) < 0.5 * metrics.global_reconstruction_error(radial, power)
    assert metrics.global_reconstruction_error(radial, radial) < 1e-6
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(radial.shape[1],) * 2))[0]
    turned = metrics.reconstruction_measures(radial, radial @ rotation)
    assert turned["gfre"] < 1e-6 and turned["gfrd"] < 1e-6  # a rotation loses and distorts nothing
    assert metrics.global_reconstruction_distortion(power, radial) > 0  # wider X: defined here (scikit-matter fails)
    with pytest.raises(ValueError, match="same number of rows"):
        metrics.global_reconstruction_error(radial, power[:10])
