"""The spherical expansion (the calculator the SOAP family builds on) against featomic 0.6, and
``selected_samples``: only the requested centres are computed, in the requested order."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

from compute.descriptors import SoapPowerSpectrum, SoapRadialSpectrum, SphericalExpansion
from compute.systems import structure_offsets

featomic = pytest.importorskip("featomic")

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"
HYPERS = dict(cutoff=4.0, n_max=5, l_max=4, density_width=0.35, smoothing_width=0.5)


def _frames():
    return ase.io.read(DATA / "explore_qm9.xyz", ":") + ase.io.read(DATA / "explore_mc3d.xyz", ":3")


def featomic_expansion(frames, species, n_max, l_max, cutoff, density_width, smoothing_width):
    """featomic's coefficients in our layout: rows (structure, atom), then (species, lm, n)."""
    calculator = featomic.SphericalExpansion(
        cutoff={"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": smoothing_width}},
        density={"type": "Gaussian", "width": density_width, "center_atom_weight": 1.0},
        basis={"type": "TensorProduct", "max_angular": l_max, "radial": {"type": "Gto", "max_radial": n_max - 1}},
    )
    offsets = structure_offsets(frames)
    out = np.zeros((int(offsets[-1]), len(species), (l_max + 1) ** 2, n_max))
    for key, block in calculator.compute(frames).items():
        l, _, _, neighbor = key.values.tolist()
        samples = block.samples.values
        out[offsets[samples[:, 0]] + samples[:, 1], list(species).index(neighbor), l * l : (l + 1) ** 2, :] = block.values
    return out


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_the_expansion_equals_featomics_coefficients(backend):
    frames = _frames()
    expansion = SphericalExpansion(**HYPERS)
    ours = expansion.compute(frames, backend=backend)
    reference = featomic_expansion(frames, expansion.species_for(frames), **HYPERS)
    assert ours.shape == reference.shape == (sum(map(len, frames)), len(expansion.species_for(frames)), 25, 5)
    np.testing.assert_allclose(ours, reference, atol=1e-6 * np.abs(reference).max())
    # per structure: the mean of its atoms' coefficients
    per_structure = expansion.compute(frames, per="structure", backend=backend)
    offsets = structure_offsets(frames)
    means = np.stack([reference[offsets[k] : offsets[k + 1]].mean(axis=0) for k in range(len(frames))])
    np.testing.assert_allclose(per_structure, means, atol=1e-6 * np.abs(reference).max())


@pytest.mark.parametrize("calculator", [SphericalExpansion, SoapPowerSpectrum, SoapRadialSpectrum])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_selected_samples_are_the_same_rows_as_all_then_sliced(calculator, backend):
    frames = _frames()
    descriptor = calculator(**HYPERS)
    everything = descriptor.compute(frames, backend=backend)
    n_atoms = len(everything)
    rng = np.random.default_rng(0)
    chosen = np.concatenate([rng.choice(n_atoms, 12, replace=False), [5, 5, n_atoms - 1]])  # any order, repeats
    np.testing.assert_allclose(descriptor.compute(frames, backend=backend, selected_samples=chosen), everything[chosen],
                               rtol=1e-12, atol=1e-14)
    structures = descriptor.compute(frames, per="structure", backend=backend)
    np.testing.assert_allclose(descriptor.compute(frames, per="structure", backend=backend, selected_samples=[7, 0, 2]),
                               structures[[7, 0, 2]], rtol=1e-12, atol=1e-14)
    assert descriptor.compute(frames, backend=backend, selected_samples=[]).shape == (0, *everything.shape[1:])


def test_selected_samples_compute_only_those_centres(monkeypatch):
    """The work done is that of the selected centres: the kernel sees only them, and neighbour
    lists are built only for the structures holding them."""
    from compute.descriptors import soap as soap_module

    frames = ase.io.read(SAMPLE, ":400")
    n_atoms = sum(map(len, frames))
    centres_seen, atoms_listed = [], []
    kernel = SoapPowerSpectrum._numba_kernel
    pairs = soap_module.neighbor_pairs

    def counting_kernel(centres, *args):
        centres_seen.append(len(centres))
        return kernel(centres, *args)

    def counting_pairs(batch, cutoff):
        atoms_listed.append(sum(map(len, batch)))
        return pairs(batch, cutoff)

    monkeypatch.setattr(SoapPowerSpectrum, "_numba_kernel", counting_kernel)
    monkeypatch.setattr(soap_module, "neighbor_pairs", counting_pairs)
    chosen = np.random.default_rng(1).choice(n_atoms, 40, replace=False)
    SoapPowerSpectrum(**HYPERS).compute(frames, backend="numba", selected_samples=chosen)
    assert sum(centres_seen) == 40
    assert sum(atoms_listed) <= 40 * max(map(len, frames)) < n_atoms / 5


def test_bad_selections_are_refused_by_name():
    frames = _frames()[:2]
    soap = SoapPowerSpectrum(**HYPERS)
    with pytest.raises(ValueError, match="selected_samples must be between 0 and"):
        soap.compute(frames, selected_samples=[10_000])
    with pytest.raises(ValueError, match="selected_samples must be between 0 and 1"):
        soap.compute(frames, per="structure", selected_samples=[-1])
    with pytest.raises(ValueError, match="1-D sequence of integer"):
        soap.compute(frames, selected_samples=[0.5])
