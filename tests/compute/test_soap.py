"""SOAP power and radial spectra against featomic 0.6 (the reference), and backends against each other.

Data: real structures from tests/data and sample_datasets (see their READMEs for sources), plus
small hand-built cells to hit the awkward cases (cells smaller than the cutoff, triclinic cells).
"""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

from compute import _dispatch
from compute.descriptors import SoapPowerSpectrum, SoapRadialSpectrum

from .conftest import small_periodic_cells

featomic = pytest.importorskip("featomic")
metatensor = pytest.importorskip("metatensor")

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"
CPU_BACKENDS = ["numpy", "numba"]


def read(name, index=":"):
    return ase.io.read(DATA / name, index)




DATASETS = {
    "non-periodic molecules (QM9)": lambda: read("explore_qm9.xyz"),
    "sample molecules (C, H, N, O)": lambda: ase.io.read(SAMPLE, ":25"),
    "periodic carbon (C-GAP-20U)": lambda: read("explore_c-gap-20u.xyz"),
    "13 elements, periodic (MC3D)": lambda: read("explore_mc3d.xyz"),
    "small and triclinic cells": small_periodic_cells,
}


def featomic_hypers(cutoff, density_width, smoothing_width, center_weight=1.0):
    return dict(
        cutoff={"radius": cutoff, "smoothing": {"type": "ShiftedCosine", "width": smoothing_width}},
        density={"type": "Gaussian", "width": density_width, "center_atom_weight": center_weight},
    )


def featomic_power_spectrum(frames, species, per, **hypers):
    """featomic's features as one dense matrix, columns in our layout (pairs a ≤ b, l, n1, n2)."""
    n_max, l_max = hypers.pop("n_max"), hypers.pop("l_max")
    calculator = featomic.SoapPowerSpectrum(
        **featomic_hypers(**hypers),
        basis={"type": "TensorProduct", "max_angular": l_max, "radial": {"type": "Gto", "max_radial": n_max - 1}},
    )
    a, b = np.triu_indices(len(species))
    pairs = np.array([[species[i], species[j]] for i, j in zip(a, b)], dtype=np.int32)
    tensor = calculator.compute(frames)
    tensor = tensor.keys_to_properties(metatensor.Labels(["neighbor_1_type", "neighbor_2_type"], pairs))
    tensor = tensor.keys_to_samples("center_type")
    if per == "structure":
        tensor = metatensor.mean_over_samples(tensor, sample_names=["atom", "center_type"])
    block = tensor.block()
    samples = block.samples.values
    # rows by (system, atom), as ours
    order = np.lexsort((samples[:, 1], samples[:, 0])) if per == "atom" else np.argsort(samples[:, 0])
    return block.values[order]


def featomic_radial_spectrum(frames, species, **hypers):
    n_max = hypers.pop("n_max")
    hypers.pop("l_max", None)
    calculator = featomic.SoapRadialSpectrum(**featomic_hypers(**hypers), basis={"radial": {"type": "Gto", "max_radial": n_max - 1}})
    tensor = calculator.compute(frames)
    tensor = tensor.keys_to_properties(metatensor.Labels(["neighbor_type"], np.array(species, dtype=np.int32)[:, None]))
    block = tensor.keys_to_samples("center_type").block()
    samples = block.samples.values
    return block.values[np.lexsort((samples[:, 1], samples[:, 0]))]


def assert_gram_close(ours, reference, rtol=1e-6):
    """Gram matrices equal to rtol relative to their largest entry; also the raw values."""
    assert ours.shape == reference.shape
    gram, gram_reference = ours @ ours.T, reference @ reference.T
    scale = np.abs(gram_reference).max()
    assert np.abs(gram - gram_reference).max() <= rtol * scale
    np.testing.assert_allclose(ours, reference, atol=rtol * np.abs(reference).max())


HYPERS = dict(cutoff=5.0, n_max=8, l_max=6, density_width=0.3, smoothing_width=0.5)
SMALL_HYPERS = dict(cutoff=3.5, n_max=5, l_max=4, density_width=0.4, smoothing_width=0.3)


@pytest.mark.parametrize("dataset", list(DATASETS))
@pytest.mark.parametrize("per", ["atom", "structure"])
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_power_spectrum_matches_featomic(dataset, per, backend):
    frames = DATASETS[dataset]()
    soap = SoapPowerSpectrum(**HYPERS)
    species = soap.species_for(frames).tolist()
    ours = soap.compute(frames, per=per, backend=backend)
    reference = featomic_power_spectrum(frames, species, per, **HYPERS)
    assert_gram_close(ours, reference)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_other_hyperparameters_and_center_weight_match_featomic(backend):
    frames = read("methane_dimer_sample.xyz", ":10") + read("explore_c-gap-20u.xyz", ":2")
    hypers = dict(SMALL_HYPERS, center_weight=0.5)
    soap = SoapPowerSpectrum(**hypers)
    species = soap.species_for(frames).tolist()
    assert_gram_close(soap.compute(frames, backend=backend), featomic_power_spectrum(frames, species, "atom", **hypers))


def test_molecular_crystals_from_chemiscope_file_match_featomic():
    """CSD-1000R crystals, periodic with four elements, read through our dataset reader."""
    from compute.datasets import read_dataset

    frames = read_dataset(DATA / "CSD-1000R.chemiscope.json").structures[:3]
    soap = SoapPowerSpectrum(**SMALL_HYPERS)
    species = soap.species_for(frames).tolist()
    assert len(species) >= 4
    ours = soap.compute(frames, per="structure", backend="numba")
    assert_gram_close(ours, featomic_power_spectrum(frames, species, "structure", **SMALL_HYPERS))


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_radial_spectrum_matches_featomic(backend):
    frames = read("explore_mc3d.xyz") + small_periodic_cells() + read("explore_qm9.xyz")
    soap = SoapRadialSpectrum(**HYPERS)
    species = soap.species_for(frames).tolist()
    ours = soap.compute(frames, backend=backend)
    assert_gram_close(ours, featomic_radial_spectrum(frames, species, **HYPERS))
    assert len(soap.feature_names(species)) == ours.shape[1]


def test_species_fix_the_columns_across_calls():
    frames = read("explore_qm9.xyz")
    soap = SoapPowerSpectrum(**SMALL_HYPERS, species=[1, 6, 7, 8, 9])
    whole = soap.compute(frames, backend="numba")
    # a frame without N, O or F still gets every column, the missing pairs as zeros
    methane_like = [atoms for atoms in frames if set(atoms.get_chemical_symbols()) <= {"C", "H"}]
    assert methane_like
    alone = soap.compute(methane_like, backend="numba")
    assert alone.shape[1] == whole.shape[1] == soap.n_features(5)
    names = soap.feature_names([1, 6, 7, 8, 9])
    assert len(names) == whole.shape[1] and names[0] == "H-H l=0 n1=0 n2=0"
    labels = soap.feature_labels([1, 6, 7, 8, 9])
    nitrogen_columns = (labels[:, 0] == 7) | (labels[:, 1] == 7)
    assert np.all(alone[:, nitrogen_columns] == 0)
    assert np.any(alone[:, ~nitrogen_columns] != 0)


def test_unknown_species_and_bad_hyperparameters_raise_clear_errors():
    frames = read("explore_qm9.xyz")
    with pytest.raises(ValueError, match=r"frame \d+ contains .*not in species"):
        SoapPowerSpectrum(species=[1, 6]).compute(frames, backend="numpy")
    for parameter, value in [("cutoff", -1.0), ("n_max", 0), ("l_max", -1), ("density_width", 0.0), ("smoothing_width", 9.0)]:
        with pytest.raises(ValueError, match=parameter):
            SoapPowerSpectrum(**{parameter: value})
    with pytest.raises(ValueError, match="per="):
        SoapPowerSpectrum().compute(frames, per="molecule")
    with pytest.raises(ValueError, match="unknown backend"):
        SoapPowerSpectrum().compute(frames, backend="fortran")


def test_batches_do_not_change_the_result():
    frames = ase.io.read(SAMPLE, ":60")
    soap = SoapPowerSpectrum(**SMALL_HYPERS)
    whole = soap.compute(frames, per="structure", backend="numba")
    streamed = list(soap.iter_compute(frames, per="structure", backend="numba", batch_atoms=100))
    assert len(streamed) > 5
    assert streamed[-1][0].stop == len(frames)
    np.testing.assert_allclose(np.concatenate([rows for _, rows in streamed]), whole, rtol=0, atol=1e-12)
    as_float32 = soap.compute(frames, per="structure", backend="numba", dtype=np.float32)
    assert as_float32.dtype == np.float32
    np.testing.assert_allclose(as_float32, whole, rtol=1e-5, atol=1e-6 * np.abs(whole).max())


def test_numpy_and_numba_agree_per_atom_on_many_structures():
    frames = ase.io.read(SAMPLE, ":40") + read("explore_c-gap-20u.xyz")
    soap = SoapPowerSpectrum(**SMALL_HYPERS)
    reference = soap.compute(frames, backend="numpy")
    np.testing.assert_allclose(soap.compute(frames, backend="numba"), reference, rtol=0, atol=1e-12 * np.abs(reference).max())


def test_progress_is_reported_per_batch():
    frames = ase.io.read(SAMPLE, ":30")
    seen = []
    SoapPowerSpectrum(**SMALL_HYPERS).compute(frames, per="structure", backend="numpy", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (30, 30)
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))


gpu = pytest.mark.skipif(not _dispatch.cupy_available(), reason="needs CuPy with a CUDA device")


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("per", ["atom", "structure"])
def test_cupy_matches_numpy_and_featomic(per):
    frames = read("explore_mc3d.xyz") + small_periodic_cells() + ase.io.read(SAMPLE, ":50")
    soap = SoapPowerSpectrum(**HYPERS)
    ours = soap.compute(frames, per=per, backend="cupy")
    assert isinstance(ours, np.ndarray)
    reference = soap.compute(frames, per=per, backend="numba")
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-10 * np.abs(reference).max())
    assert_gram_close(ours, featomic_power_spectrum(frames, soap.species_for(frames).tolist(), per, **HYPERS))


@pytest.mark.gpu
@gpu
def test_cupy_radial_spectrum_and_device_arrays():
    import cupy

    frames = read("explore_c-gap-20u.xyz")
    soap = SoapRadialSpectrum(**HYPERS)
    on_device = soap.compute(frames, backend="cupy", return_device_array=True)
    assert isinstance(on_device, cupy.ndarray)
    np.testing.assert_allclose(on_device.get(), soap.compute(frames, backend="numba"), atol=1e-12)


@pytest.mark.parametrize("smoothing_width", [0.0, 3.0])
def test_backends_agree_at_the_edges_of_the_smoothing_width(smoothing_width):
    """No smoothing (a hard cutoff) and smoothing over the whole cutoff (w = r_c, where the
    centre still has f_c(0) = 1), on numpy, numba and featomic."""
    frames = read("explore_qm9.xyz") + small_periodic_cells()
    hypers = dict(cutoff=3.0, n_max=4, l_max=3, density_width=0.4, smoothing_width=smoothing_width)
    soap = SoapPowerSpectrum(**hypers)
    reference = soap.compute(frames, backend="numpy")
    np.testing.assert_allclose(soap.compute(frames, backend="numba"), reference, rtol=0, atol=1e-12 * np.abs(reference).max())
    if smoothing_width > 0:  # featomic's ShiftedCosine needs a positive width
        assert_gram_close(reference, featomic_power_spectrum(frames, soap.species_for(frames).tolist(), "atom", **hypers))
