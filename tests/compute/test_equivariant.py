"""λ-SOAP (EquivariantPowerSpectrum) against featomic 0.6's clebsch_gordan.EquivariantPowerSpectrum,
and its symmetry: blocks rotate like real spherical harmonics of degree λ, invert with sign σ."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from compute.descriptors import EquivariantPowerSpectrum, SoapBispectrum
from compute.descriptors._coupling import real_coupling
from compute.descriptors._spherical import real_spherical_harmonics
from compute.systems import structure_offsets

from .conftest import assert_block_gram_close, small_periodic_cells

featomic = pytest.importorskip("featomic")
metatensor = pytest.importorskip("metatensor")
clebsch_gordan = pytest.importorskip("featomic.clebsch_gordan")

DATA = Path(__file__).resolve().parents[1] / "data"
HYPERS = dict(cutoff=4.0, n_max=3, l_max=3, density_width=0.35, smoothing_width=0.5)




DATASETS = {
    "molecules (QM9)": lambda: ase.io.read(DATA / "explore_qm9.xyz", ":"),
    "13 elements, periodic (MC3D)": lambda: ase.io.read(DATA / "explore_mc3d.xyz", ":3"),
    "small and triclinic cells": small_periodic_cells,
}


def featomic_expansion(h: dict):
    """featomic's SphericalExpansion with our hyperparameters (``n_max`` = its max_radial + 1)."""
    return featomic.SphericalExpansion(
        cutoff={"radius": h["cutoff"], "smoothing": {"type": "ShiftedCosine", "width": h["smoothing_width"]}},
        density={"type": "Gaussian", "width": h["density_width"], "center_atom_weight": 1.0},
        basis={"type": "TensorProduct", "max_angular": h["l_max"], "radial": {"type": "Gto", "max_radial": h["n_max"] - 1}},
    )


def featomic_blocks(frames, species, per):
    """featomic's blocks as ours: {(λ, σ): (rows, 2λ+1, features)}, all centre types in one array."""
    expansion = featomic_expansion(HYPERS)
    tensor = clebsch_gordan.EquivariantPowerSpectrum(expansion, neighbor_types=list(species)).compute(frames, neighbors_to_properties=True)
    offsets = structure_offsets(frames)
    out = {}
    for key, block in tensor.items():
        lam, sigma, _ = key.values.tolist()
        rows = out.setdefault((lam, sigma), np.zeros((int(offsets[-1]), 2 * lam + 1, block.values.shape[2])))
        samples = block.samples.values
        rows[offsets[samples[:, 0]] + samples[:, 1]] = block.values
    if per == "structure":
        owner = np.repeat(np.arange(len(frames)), np.diff(offsets))
        out = {key: np.stack([rows[owner == k].sum(axis=0) for k in range(len(frames))]) for key, rows in out.items()}
    return out




@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("per", ["atom", "structure"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_every_block_equals_featomic(dataset, per, backend):
    frames = DATASETS[dataset]()
    eq = EquivariantPowerSpectrum(**HYPERS)
    species = eq.species_for(frames).tolist()
    ours = eq.compute(frames, per=per, backend=backend)
    reference = featomic_blocks(frames, species, per)
    assert set(ours) == set(reference) == set(eq.keys())
    assert any(sigma == -1 for _, sigma in ours)
    scale = max(np.einsum("iuf,iuf->i", block, block).max() for block in reference.values())
    for key in ours:
        assert ours[key].shape == reference[key].shape, key
        assert ours[key].shape[2] == len(eq.feature_names(key, species))
        assert_block_gram_close(ours[key], reference[key], floor=1e-12 * scale)


def _wigner(lam: int, rotation: np.ndarray) -> np.ndarray:
    """D such that Y_λ(R r) = D Y_λ(r) in our real basis (fitted on many directions, exact)."""
    points = np.random.default_rng(7).normal(size=(4 * (2 * lam + 1) + 10, 3))
    points /= np.linalg.norm(points, axis=1)[:, None]
    before = real_spherical_harmonics(points, lam)[:, lam * lam :]
    after = real_spherical_harmonics(points @ rotation.T, lam)[:, lam * lam :]
    return np.linalg.lstsq(before, after, rcond=None)[0].T


def test_blocks_rotate_and_invert_as_their_key_says():
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":3")
    eq = EquivariantPowerSpectrum(**HYPERS)
    species = eq.species_for(frames)
    before = eq.compute(frames, backend="numpy", species=species)
    rotation = Rotation.random(random_state=3).as_matrix()
    turned = [a.copy() for a in frames]
    for atoms in turned:
        atoms.positions = atoms.positions @ rotation.T
    after = eq.compute(turned, backend="numpy", species=species)
    inverted = [a.copy() for a in frames]
    for atoms in inverted:
        atoms.positions = -atoms.positions
    mirrored = eq.compute(inverted, backend="numpy", species=species)
    for (lam, sigma), block in before.items():
        expected = np.einsum("uv,ivf->iuf", _wigner(lam, rotation), block)
        scale = np.abs(block).max()
        np.testing.assert_allclose(after[(lam, sigma)], expected, atol=1e-8 * scale)
        # inversion: degree-λ harmonics give (−1)^λ, the key's parity σ on top
        np.testing.assert_allclose(mirrored[(lam, sigma)], sigma * (-1) ** lam * block, atol=1e-8 * scale)


def test_the_coupling_is_orthonormal_and_per_structure_rows_are_sums():
    for l1, l2, lam in [(1, 1, 0), (2, 1, 2), (3, 3, 5), (2, 3, 1)]:
        coupling = real_coupling(l1, l2, lam)
        np.testing.assert_allclose(np.einsum("umv,wmv->uw", coupling, coupling), np.eye(2 * lam + 1), atol=1e-12)
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":4")
    eq = EquivariantPowerSpectrum(**HYPERS)
    atoms = eq.compute(frames, backend="numpy", selected_keys=[(1, 1)])
    structures = eq.compute(frames, per="structure", backend="numpy", selected_keys=[(1, 1)])
    offsets = structure_offsets(frames)
    np.testing.assert_allclose(structures[(1, 1)][2], atoms[(1, 1)][offsets[2] : offsets[3]].sum(axis=0))
    with pytest.raises(ValueError, match="not blocks"):
        eq.compute(frames, selected_keys=[(9, 1)])


BISPECTRUM_HYPERS = dict(HYPERS, n_max=2)


def featomic_bispectrum(frames, species, per):
    """The (λ=0, σ=+1) block of featomic's DensityCorrelations(n_correlations=2) on the expansion
    with neighbour types as properties, angular_cutoff=l_max; rows (structure, atom)."""
    h = BISPECTRUM_HYPERS
    expansion = featomic_expansion(h)
    density = expansion.compute(frames).keys_to_properties(metatensor.Labels(["neighbor_type"], np.array(species)[:, None]))
    invariant = metatensor.Labels(["o3_lambda", "o3_sigma"], np.array([[0, 1]]))
    tensor = clebsch_gordan.DensityCorrelations(n_correlations=2, max_angular=h["l_max"]).compute(
        density, angular_cutoff=h["l_max"], selected_keys=invariant)
    block = tensor.keys_to_properties(["l_1", "l_2", "k_2", "l_3"]).keys_to_samples("center_type").block()
    offsets = structure_offsets(frames)
    rows = np.zeros((int(offsets[-1]), block.values.shape[-1]))
    samples = block.samples.values
    rows[offsets[samples[:, 0]] + samples[:, 1]] = block.values[:, 0, :]
    if per == "structure":
        rows = np.stack([rows[offsets[k] : offsets[k + 1]].mean(axis=0) for k in range(len(frames))])
    return rows


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("per", ["atom", "structure"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_bispectrum_equals_featomics_density_correlations(dataset, per, backend):
    frames = DATASETS[dataset]()
    b3 = SoapBispectrum(**BISPECTRUM_HYPERS)
    species = b3.species_for(frames).tolist()
    ours = b3.compute(frames, per=per, backend=backend)
    reference = featomic_bispectrum(frames, species, per)
    assert ours.shape == reference.shape and ours.shape[1] == len(b3.feature_names(species))
    gram, gram_reference = ours @ ours.T, reference @ reference.T
    assert np.abs(gram - gram_reference).max() <= 1e-6 * np.abs(gram_reference).max()


def test_bispectrum_rows_are_rotation_invariant_and_selectable():
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":3")
    b3 = SoapBispectrum(**BISPECTRUM_HYPERS)
    species = b3.species_for(frames)
    before = b3.compute(frames, backend="numpy", species=species)
    rotation = Rotation.random(random_state=5).as_matrix()
    turned = [a.copy() for a in frames]
    for atoms in turned:
        atoms.positions = atoms.positions @ rotation.T
    np.testing.assert_allclose(b3.compute(turned, backend="numpy", species=species), before, atol=1e-9 * np.abs(before).max())
    np.testing.assert_allclose(b3.compute(frames, backend="numpy", species=species, selected_samples=[4, 0]), before[[4, 0]])


def test_lambda_soap_invariants_are_the_invariant_block():
    """LambdaSoapInvariants = the (λ=0, σ=+1) block of λ-SOAP as a matrix, columns and names
    included; per structure the mean of the atoms' rows (as the power spectrum), not the sum."""
    from compute.descriptors import LambdaSoapInvariants

    frames = ase.io.read(DATA / "explore_qm9.xyz", ":") + small_periodic_cells()
    invariants = LambdaSoapInvariants(**HYPERS)
    eq = EquivariantPowerSpectrum(**HYPERS)
    species = invariants.species_for(frames)
    for backend in ("numpy", "numba"):
        ours = invariants.compute(frames, backend=backend, rows_per_chunk=7)  # chunks end mid-structure
        np.testing.assert_allclose(ours, eq.compute(frames, backend=backend, selected_keys=[(0, 1)])[(0, 1)][:, 0, :],
                                   rtol=0, atol=1e-13 * np.abs(ours).max())
    offsets = structure_offsets(frames)
    structures = invariants.compute(frames, per="structure", backend="numba", rows_per_chunk=7)
    for k in range(len(frames)):
        np.testing.assert_allclose(structures[k], ours[offsets[k] : offsets[k + 1]].mean(axis=0), atol=1e-13)
    np.testing.assert_allclose(invariants.compute(frames, per="structure", backend="numba", selected_samples=[6, 2]),
                               structures[[6, 2]], atol=1e-13)
    assert ours.shape[1] == invariants.n_features(len(species)) == len(invariants.feature_names(species))
    assert invariants.feature_names(species) == eq.feature_names((0, 1), species)
    np.testing.assert_array_equal(invariants.feature_labels(species), eq.feature_labels((0, 1), species))
