"""NICE-compressed ν=3 invariants (SoapBispectrum(compression=k)): equal to the full bispectrum
(as Gram matrices) when nothing is cut, invariant under rotations and reflections, a column count
that is the bound it promises, and a reconstruction of the full ν=3 features that improves with k
(GFRE of compute.metrics). Molecules: chemiscope's showcase (29 molecules, H C N O S)."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from compute.descriptors import SoapBispectrum
from compute.metrics import global_reconstruction_error

DATA = Path(__file__).resolve().parents[1] / "data"
HYPERS = dict(cutoff=3.5, n_max=2, l_max=2, density_width=0.4)


@pytest.fixture(scope="module")
def molecules():
    return ase.io.read(DATA / "showcase.xyz", ":")


def _relative_gram_error(X, Y):
    gram, reference = X @ X.T, Y @ Y.T
    return np.abs(gram - reference).max() / np.abs(reference).max()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_no_compression_equals_the_bispectrum(molecules, backend):
    """k ≥ every block width: U_λ is square and orthogonal, b̃ = Uᵀ b, the same Gram matrix; also
    for rows the fit never saw (fitted on half of the molecules), per atom and per structure."""
    full = SoapBispectrum(**HYPERS)
    species = full.species_for(molecules)
    nice = SoapBispectrum(**HYPERS, compression=10_000).fit(molecules[::2], backend=backend, species=species)
    assert nice.n_features(len(species)) == full.n_features(len(species))
    for per in ("atom", "structure"):
        ours = nice.compute(molecules, per=per, backend=backend)
        assert _relative_gram_error(ours, full.compute(molecules, per=per, backend=backend)) < 1e-8
    # per structure: the mean of the atoms' rows, as the power spectrum
    atoms = nice.compute(molecules[:2], backend=backend)
    np.testing.assert_allclose(nice.compute(molecules[:2], per="structure", backend=backend)[1],
                               atoms[len(molecules[0]):].mean(axis=0), atol=1e-12)


def test_compressed_rows_are_invariant_under_rotations_and_reflections(molecules):
    frames = molecules[:8]
    nice = SoapBispectrum(**HYPERS, compression=5).fit(frames, backend="numpy")
    before = nice.compute(frames, backend="numpy")
    scale = np.abs(before).max()
    np.testing.assert_allclose(nice.compute(frames, backend="numpy", selected_samples=[9, 0]), before[[9, 0]], atol=1e-13 * scale)
    structures = nice.compute(frames, per="structure", backend="numpy")
    np.testing.assert_allclose(nice.compute(frames, per="structure", backend="numpy", selected_samples=[3, 1]), structures[[3, 1]],
                               atol=1e-13 * scale)
    for seed in range(3):
        rotation = Rotation.random(random_state=seed).as_matrix()
        for operation in (rotation, -rotation):  # proper, then improper (a reflection too)
            moved = [a.copy() for a in frames]
            for atoms in moved:
                atoms.positions = atoms.positions @ operation.T
            np.testing.assert_allclose(nice.compute(moved, backend="numpy"), before, rtol=0, atol=1e-8 * scale)
            # the fit is orientation-free too: Σ_μ pᵀp does not change when μ is rotated
            refit = SoapBispectrum(**HYPERS, compression=5).fit(moved, backend="numpy")
            for lam, values in nice.eigenvalues_.items():
                np.testing.assert_allclose(refit.eigenvalues_[lam], values, rtol=0, atol=1e-8 * values.max())


def test_the_column_count_is_the_bound_and_larger_k_reconstructs_more(molecules):
    """Columns Σ_λ min(k, F_λ) · species · n_max; GFRE(b̃_k → b) decreases with k (nested components)."""
    hypers = dict(HYPERS, n_max=1, l_max=1)  # a narrow target: the GFRE's Procrustes is an SVD of its width
    full = SoapBispectrum(**hypers)
    species = full.species_for(molecules)
    target = full.compute(molecules, backend="numba")
    channels = len(species) * hypers["n_max"]
    widths = {0: channels**2, 1: channels**2}  # F_λ: the pairs (0, 0) and (0, 1), each channels² wide
    errors = []
    for k in (1, 4, 16):
        nice = SoapBispectrum(**hypers, compression=k).fit(molecules[::2], backend="numba", species=species)
        features = nice.compute(molecules, backend="numba")
        bound = sum(min(k, width) for width in widths.values()) * channels
        assert features.shape[1] == nice.n_features(len(species)) == bound == len(nice.feature_names(species))
        assert {lam: u.shape for lam, u in nice.projections_.items()} == {lam: (w, min(k, w)) for lam, w in widths.items()}
        errors.append(global_reconstruction_error(features, target))
    assert target.shape[1] == 2 * channels**3 > features.shape[1]
    assert errors[0] > errors[1] > errors[2], errors


def test_misuse_is_refused_with_a_reason(molecules):
    nice = SoapBispectrum(**HYPERS, compression=3)
    assert nice.needs_fit and not SoapBispectrum(**HYPERS, compression=0).needs_fit
    with pytest.raises(ValueError, match="not fitted: call fit"):
        nice.compute(molecules[:2])
    nice.fit(molecules[:2], backend="numpy")  # H C N O: no S
    with pytest.raises(ValueError, match="fitted on species"):
        nice.compute(molecules[:2], species=[1, 6, 7, 8, 16])
    with pytest.raises(ValueError, match="contains S"):
        nice.compute(molecules, backend="numpy")
    with pytest.raises(ValueError, match="compression"):
        SoapBispectrum(**HYPERS, compression=2.5)
    assert "compression=3" in repr(nice)
