"""compute.tensors: vectors and symmetric tensors learned with λ-SOAP, equivariant by construction.

The learning tests use sample molecules turned at random with smooth, local, physically shaped
targets (bond dipoles from partial-charge differences, bond polarizabilities on a per-atom
isotropic part; ``compute.bench.tensors``, which the benchmark uses too): known functions of the
geometry, so the learning curve is a property of the model, not of noise in the data.
"""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from compute.bench.tensors import local_targets as _local_targets, turned_molecules as _turned_molecules
from compute.descriptors import EquivariantPowerSpectrum
from compute.descriptors._spherical import real_spherical_harmonics
from compute.tensors import TensorRidge, cartesian_to_spherical, spherical_to_cartesian, tensor_learning_curve

DATA = Path(__file__).resolve().parents[1] / "data"
DESCRIPTOR = dict(cutoff=4.0, n_max=3, l_max=2, density_width=0.4)


def _wigner(lam: int, rotation) -> np.ndarray:
    points = np.random.default_rng(3).normal(size=(40, 3))
    points /= np.linalg.norm(points, axis=1)[:, None]
    before = real_spherical_harmonics(points, lam)[:, lam * lam :]
    after = real_spherical_harmonics(points @ rotation.T, lam)[:, lam * lam :]
    return np.linalg.lstsq(before, after, rcond=None)[0].T


def test_cartesian_and_spherical_parts_round_trip_and_rotate_like_harmonics():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 3))
    np.testing.assert_array_equal(spherical_to_cartesian(cartesian_to_spherical(vectors, 1), 1), vectors)
    half = rng.normal(size=(7, 3, 3))
    tensors = half + half.transpose(0, 2, 1)
    parts = cartesian_to_spherical(tensors, 2)
    np.testing.assert_allclose(spherical_to_cartesian(parts, 2), tensors, atol=1e-14)
    np.testing.assert_allclose(parts[0][:, 0] / np.sqrt(3), np.trace(tensors, axis1=1, axis2=2) / 3)  # λ=0 is the trace/3
    np.testing.assert_allclose((parts[0] ** 2).sum(1) + (parts[2] ** 2).sum(1), (tensors ** 2).sum(axis=(1, 2)))  # orthonormal
    six = np.stack([tensors[:, 0, 0], tensors[:, 1, 1], tensors[:, 2, 2], tensors[:, 0, 1], tensors[:, 0, 2], tensors[:, 1, 2]], 1)
    np.testing.assert_allclose(cartesian_to_spherical(six, 2)[2], parts[2])
    # each part rotates as the real harmonics of its degree (the features' convention)
    rotation = Rotation.random(random_state=4).as_matrix()
    turned = cartesian_to_spherical(np.einsum("ij,njk,lk->nil", rotation, tensors, rotation), 2)
    np.testing.assert_allclose(turned[2], parts[2] @ _wigner(2, rotation).T, atol=1e-12)
    np.testing.assert_allclose(cartesian_to_spherical(vectors @ rotation.T, 1)[1], cartesian_to_spherical(vectors, 1)[1] @ _wigner(1, rotation).T,
                               atol=1e-12)
    with pytest.raises(ValueError, match="symmetric"):
        cartesian_to_spherical(half, 2)


@pytest.mark.parametrize("rank", [1, 2])
def test_predictions_rotate_reflect_and_ignore_atom_order(rank):
    frames = _turned_molecules(40)
    targets = [_local_targets(a)[rank - 1] for a in frames]
    model = TensorRidge(rank=rank, descriptor=EquivariantPowerSpectrum(**DESCRIPTOR), backend="numpy").fit(frames[:30], targets[:30])
    test = frames[30:]
    predicted = model.predict(test)
    for transform in (Rotation.random(random_state=9).as_matrix(), -Rotation.random(random_state=10).as_matrix()):  # a reflection too
        moved = [a.copy() for a in test]
        for atoms in moved:
            atoms.positions = atoms.positions @ transform.T
        expected = predicted @ transform.T if rank == 1 else np.einsum("ij,njk,lk->nil", transform, predicted, transform)
        np.testing.assert_allclose(model.predict(moved), expected, atol=1e-8 * np.abs(predicted).max())
    shuffled = [a[np.random.default_rng(1).permutation(len(a))] for a in test]
    np.testing.assert_allclose(model.predict(shuffled), predicted, atol=1e-10 * np.abs(predicted).max())
    # a sum of atomic contributions, which predict_atoms gives one by one
    contributions = model.predict_atoms(test)
    owner = np.repeat(np.arange(len(test)), [len(a) for a in test])
    np.testing.assert_allclose(np.stack([contributions[owner == k].sum(0) for k in range(len(test))]), predicted,
                               atol=1e-10 * np.abs(predicted).max())


@pytest.mark.parametrize("rank", [1, 2])
def test_the_learning_curve_falls_and_beats_a_scalar_model(rank):
    frames = _turned_molecules(160)
    targets = np.array([_local_targets(a)[rank - 1] for a in frames])
    curve = tensor_learning_curve(frames, targets, rank, [10, 20, 40, 80, 120], descriptor=EquivariantPowerSpectrum(**DESCRIPTOR),
                                  backend="numba", n_test=40)
    errors = np.array([row["rmse_test"] for row in curve])
    assert np.all(np.diff(errors) < 0), errors  # falls steadily
    assert errors[-1] < 0.1 * curve[-1]["target_std"], curve
    # the rotation-blind scalar model on the Cartesian components, even tuned on the test set
    assert curve[-1]["rmse_scalar"] > 5 * errors[-1], curve


def test_per_atom_polarizabilities_of_alpha_mu():
    frames = ase.io.read(DATA / "alpha-mu.xyz", ":")
    per_atom = [np.column_stack([a.arrays[k] for k in ("axx", "ayy", "azz", "axy", "axz", "ayz")]) for a in frames]
    model = TensorRidge(rank=2, per="atom", descriptor=EquivariantPowerSpectrum(**DESCRIPTOR), backend="numpy", n_splits=3)
    model.fit(frames[:1], per_atom[0])
    predicted = model.predict(frames[1:])
    assert predicted.shape == (len(frames[1]), 3, 3)
    rotation = Rotation.random(random_state=2).as_matrix()
    turned = frames[1].copy()
    turned.positions = turned.positions @ rotation.T
    np.testing.assert_allclose(model.predict([turned]), np.einsum("ij,njk,lk->nil", rotation, predicted, rotation),
                               atol=1e-8 * np.abs(predicted).max())
    with pytest.raises(ValueError, match="targets for"):
        model.fit(frames[:1], per_atom[1][:3])
