"""LODE (LodeSphericalExpansion, LodePowerSpectrum) against featomic 0.6, element by element and as
Gram matrices, on real periodic structures, a cell smaller than the k-space resolution, a
triclinic cell and a two-species salt; and the checks featomic does not make for us (periodic-only
inputs, selected samples, invariance under translation, wrapping and rotation)."""

from __future__ import annotations

from pathlib import Path

import ase
import ase.io
import numpy as np
import pytest
from ase.build import bulk, molecule
from scipy.spatial.transform import Rotation

from compute.descriptors import LodePowerSpectrum, LodeSphericalExpansion
from compute.descriptors.lode import reciprocal_vectors
from compute.systems import structure_offsets

from .conftest import assert_block_gram_close, small_periodic_cells

featomic = pytest.importorskip("featomic")
clebsch_gordan = pytest.importorskip("featomic.clebsch_gordan")

DATA = Path(__file__).resolve().parents[1] / "data"
HYPERS = dict(smearing=1.0, exponent=1, l_max=3, n_max=5, radius=5.0)




DATASETS = {
    "MC3D (13 elements)": lambda: ase.io.read(DATA / "explore_mc3d.xyz", ":3"),
    "carbon GAP-20": lambda: ase.io.read(DATA / "explore_c-gap-20u.xyz", ":4"),
    "small, triclinic, salt": lambda: small_periodic_cells(salt=True),
}


def featomic_coefficients(frames, species, smearing=1.0, exponent=1, l_max=3, n_max=5, radius=5.0, center_weight=1.0,
                          per="atom"):
    """featomic's LODE coefficients in our layout (rows, species, (l_max+1)², n_max)."""
    calculator = featomic.LodeSphericalExpansion(
        density={"type": "SmearedPowerLaw", "smearing": smearing, "exponent": exponent, "center_atom_weight": center_weight},
        basis={"type": "TensorProduct", "max_angular": l_max, "radial": {"type": "Gto", "max_radial": n_max - 1, "radius": radius}},
    )
    tensor = calculator.compute(frames)
    offsets = structure_offsets(frames)
    out = np.zeros((int(offsets[-1]), len(species), (l_max + 1) ** 2, n_max))
    for key, block in tensor.items():
        lam, _, _, neighbor = key.values.tolist()
        samples = block.samples.values
        out[offsets[samples[:, 0]] + samples[:, 1], list(species).index(neighbor), lam * lam : (lam + 1) ** 2, :] = block.values
    if per == "structure":
        owner = np.repeat(np.arange(len(frames)), np.diff(offsets))
        out = np.stack([out[owner == k].mean(axis=0) for k in range(len(frames))])
    return out


def as_blocks(coefficients, l_max):
    n_rows, n_species, _, n_max = coefficients.shape
    return {(l, 1): coefficients[:, :, l * l : (l + 1) ** 2, :].transpose(0, 2, 1, 3).reshape(n_rows, 2 * l + 1, -1)
            for l in range(l_max + 1)}




@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("per", ["atom", "structure"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_expansion_equals_featomic(dataset, per, backend):
    frames = DATASETS[dataset]()
    lode = LodeSphericalExpansion(**HYPERS)
    species = lode.species_for(frames)
    ours = lode.compute(frames, per=per, backend=backend)
    reference = as_blocks(featomic_coefficients(frames, species, per=per), HYPERS["l_max"])
    assert sorted(ours) == sorted(reference) == lode.keys()
    scale = max(np.abs(block).max() for block in reference.values())
    for key, block in reference.items():
        assert ours[key].shape == block.shape
        # element by element: featomic's radial splines are accurate to ~1e-8
        assert np.abs(ours[key] - block).max() <= 1e-6 * scale, key
        assert_block_gram_close(ours[key], block, floor=1e-6 * scale**2)
    if per == "structure":  # the mean of the atoms' rows
        atoms = lode.compute(frames, per="atom", backend=backend)
        offsets = structure_offsets(frames)
        for key in ours:
            np.testing.assert_allclose(ours[key][1], atoms[key][offsets[1] : offsets[2]].mean(axis=0), atol=1e-12)


@pytest.mark.parametrize("exponent, smearing, center_weight", [(0, 1.0, 1.0), (2, 0.8, 1.0), (3, 1.2, 0.5), (4, 1.0, 1.0),
                                                             (5, 1.0, 0.3), (6, 1.0, 0.0), (9, 0.9, 1.0), (1, 1.0, 0.0)])
def test_other_exponents_and_centre_weights_equal_featomic(exponent, smearing, center_weight):
    """p = 0 and p > 3 add a k = 0 term; center_weight ≠ 1 removes part of the centre's own potential."""
    frames = small_periodic_cells(salt=True)
    hypers = dict(HYPERS, exponent=exponent, smearing=smearing, l_max=2, n_max=4)
    lode = LodeSphericalExpansion(**hypers, center_weight=center_weight)
    ours, species = lode.coefficients(frames, backend="numpy")
    reference = featomic_coefficients(frames, species, **hypers, center_weight=center_weight)
    assert np.abs(ours - reference).max() <= 1e-6 * np.abs(reference).max()
    # the l = 0 channel, where the k = 0 term and the centre correction act, on its own scale
    assert np.abs(ours[:, :, 0] - reference[:, :, 0]).max() <= 1e-6 * np.abs(reference[:, :, 0]).max()


def test_power_spectrum_equals_featomic_cross_correlation():
    """LodePowerSpectrum = the λ = 0 block of EquivariantPowerSpectrum(SOAP expansion, LODE expansion)."""
    frames = ase.io.read(DATA / "explore_mc3d.xyz", ":2") + small_periodic_cells(salt=True)
    soap_hypers = dict(cutoff=4.0, n_max=3, l_max=2, density_width=0.35, smoothing_width=0.5)
    calculator = LodePowerSpectrum(**soap_hypers, smearing=1.0, exponent=1, radius=5.0, lode_n_max=4)
    species = calculator.species_for(frames).tolist()
    ours = calculator.compute(frames, backend="numpy")
    soap = featomic.SphericalExpansion(
        cutoff={"radius": 4.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        density={"type": "Gaussian", "width": 0.35},
        basis={"type": "TensorProduct", "max_angular": 2, "radial": {"type": "Gto", "max_radial": 2}},
    )
    lode = featomic.LodeSphericalExpansion(
        density={"type": "SmearedPowerLaw", "smearing": 1.0, "exponent": 1},
        basis={"type": "TensorProduct", "max_angular": 2, "radial": {"type": "Gto", "max_radial": 3, "radius": 5.0}},
    )
    tensor = clebsch_gordan.EquivariantPowerSpectrum(soap, lode, neighbor_types=species).compute(frames, neighbors_to_properties=True)
    offsets = structure_offsets(frames)
    reference = np.zeros_like(ours)
    labels = None
    for key, block in tensor.items():
        if key.values[0] == 0 and key.values[1] == 1:
            samples = block.samples.values
            reference[offsets[samples[:, 0]] + samples[:, 1]] = block.values[:, 0, :]
            labels = block.properties.values
    # featomic's columns (l1 = l2 = l, a, n1, b, n2) are ours, in the same order
    np.testing.assert_array_equal(labels[:, [0, 2, 3, 4, 5]], calculator.feature_labels(species))
    assert np.abs(ours - reference).max() <= 1e-6 * np.abs(reference).max()
    structures = calculator.compute(frames, per="structure", backend="numba")
    np.testing.assert_allclose(structures[2], ours[offsets[2] : offsets[3]].mean(axis=0), atol=1e-12)
    assert ours.shape[1] == calculator.n_features(len(species)) == len(calculator.feature_names(species))


def test_non_periodic_structures_are_refused_by_name():
    water = molecule("H2O")
    slab = bulk("Cu", "fcc", a=3.6) * (2, 2, 1)
    slab.pbc = [True, True, False]
    lode = LodeSphericalExpansion(**HYPERS)
    with pytest.raises(ValueError, match=r"frame 1 is not periodic in every direction \(pbc=\[False, False, False\]\)"):
        lode.compute([bulk("Si"), water])
    with pytest.raises(ValueError, match=r"frame 0 is not periodic.*pbc=\[True, True, False\]"):
        lode.compute([slab])
    with pytest.raises(ValueError, match="frame 0 is not periodic"):
        LodePowerSpectrum(cutoff=3.0, n_max=2, l_max=1).compute(water)
    with pytest.raises(ValueError, match="smearing"):
        LodeSphericalExpansion(smearing=0.0)
    with pytest.raises(ValueError, match="exponent"):
        LodeSphericalExpansion(exponent=10)


def test_selected_samples_are_the_same_rows():
    frames = small_periodic_cells(salt=True)
    lode = LodeSphericalExpansion(**HYPERS)
    full = lode.compute(frames, backend="numpy")
    rows = [5, 0, 2, 5]
    chosen = lode.compute(frames, backend="numpy", selected_samples=rows)
    for key in full:  # the same numbers, up to the summation order of BLAS for fewer rows
        np.testing.assert_allclose(chosen[key], full[key][rows], rtol=0, atol=1e-13)
    per_structure = lode.compute(frames, per="structure", backend="numpy")
    chosen = lode.compute(frames, per="structure", backend="numpy", selected_samples=[2, 0])
    for key in full:
        np.testing.assert_allclose(chosen[key], per_structure[key][[2, 0]], atol=1e-14)


def test_translation_wrapping_and_rotation():
    """Translating or wrapping atoms changes nothing; rotating the whole crystal leaves Σ_m c² of
    every (l, a, n) unchanged (and changes the l > 0 coefficients themselves)."""
    salt = small_periodic_cells(salt=True)[2]
    lode = LodeSphericalExpansion(**HYPERS)
    reference, _ = lode.coefficients(salt, backend="numpy")
    moved = salt.copy()
    moved.positions += [0.7, -1.3, 2.9]
    moved.positions[1] += moved.cell[0] - 2 * moved.cell[2]  # another image of the same atom
    np.testing.assert_allclose(lode.coefficients(moved, backend="numpy")[0], reference, atol=1e-10 * np.abs(reference).max())
    rotated = salt.copy()
    rotation = Rotation.from_euler("zyx", [0.4, -1.1, 2.3]).as_matrix()
    rotated.set_cell(salt.cell.array @ rotation.T)
    rotated.positions = salt.positions @ rotation.T
    turned, _ = lode.coefficients(rotated, backend="numpy")
    for l in range(1, HYPERS["l_max"] + 1):
        norms = (reference[:, :, l * l : (l + 1) ** 2] ** 2).sum(axis=2)
        np.testing.assert_allclose((turned[:, :, l * l : (l + 1) ** 2] ** 2).sum(axis=2), norms, atol=1e-9 * norms.max())
    assert np.abs(turned[:, :, 1:] - reference[:, :, 1:]).max() > 1e-3 * np.abs(reference).max()


def test_reciprocal_vectors_are_half_of_the_ball():
    cell = np.array([[4.0, 0.0, 0.0], [1.5, 3.5, 0.0], [0.7, -0.4, 5.2]])
    k = reciprocal_vectors(cell, 3.0)
    integers = np.rint(k @ cell.T / (2 * np.pi)).astype(int)  # back to lattice coordinates
    np.testing.assert_allclose(integers @ (2 * np.pi * np.linalg.inv(cell).T), k, atol=1e-12)
    # brute force over a generous box: every lattice vector of the ball, either it or its opposite
    box = np.stack(np.meshgrid(*[np.arange(-12, 13)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    vectors = box @ (2 * np.pi * np.linalg.inv(cell).T)
    inside = np.linalg.norm(vectors, axis=1) < 3.0
    inside &= np.any(box != 0, axis=1)
    assert 2 * len(k) == inside.sum()
    found = {tuple(v) for v in integers.tolist()}
    assert all(tuple(v) in found or tuple(-v) in found for v in box[inside])


def test_soap_lode_is_the_power_spectrum_then_the_multiscale_invariants():
    """SoapLodePowerSpectrum ("soap-lode") = [SoapPowerSpectrum | LodePowerSpectrum], names and
    all; per structure both means; a molecule is refused naming the frame, its pbc and the remedy."""
    from compute.descriptors import SoapLodePowerSpectrum, SoapPowerSpectrum

    frames = ase.io.read(DATA / "explore_c-gap-20u.xyz", ":2") + small_periodic_cells(salt=True)
    soap_hypers = dict(cutoff=4.0, n_max=3, l_max=2, density_width=0.35)
    both = SoapLodePowerSpectrum(**soap_hypers, smearing=1.2, exponent=1)
    species = both.species_for(frames)
    for per in ("atom", "structure"):
        expected = np.hstack([SoapPowerSpectrum(**soap_hypers).compute(frames, per=per, backend="numba", species=species),
                              LodePowerSpectrum(**soap_hypers, smearing=1.2).compute(frames, per=per, backend="numpy", species=species)])
        ours = both.compute(frames, per=per, backend="numba")
        np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    np.testing.assert_allclose(both.compute(frames, per="structure", backend="numpy", selected_samples=[3, 0]), ours[[3, 0]],
                               atol=1e-12 * np.abs(ours).max())
    names = both.feature_names(species)
    assert len(names) == ours.shape[1] == both.n_features(len(species))
    assert names[0] == "C-C l=0 n1=0 n2=0" and names[-1].endswith("(LODE)")
    assert (both.smearing, both.exponent, both.cutoff, both.n_max) == (1.2, 1, 4.0, 3)
    with pytest.raises(ValueError, match=r"frame 1 is not periodic in every direction \(pbc=\[False, False, False\]\).*molecules"):
        both.compute([bulk("Si"), molecule("H2O")])
