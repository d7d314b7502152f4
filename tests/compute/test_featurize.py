"""`structure-explorer featurize`: real files in, an NPZ that loads without pickle and reads back."""

from __future__ import annotations

import json
from pathlib import Path

import ase.io
import numpy as np

from compute.datasets import read_dataset
from compute.descriptors import SoapPowerSpectrum
from compute.featurize import main

DATA = Path(__file__).resolve().parents[1] / "data"
SMALL = ["--n-max", "4", "--l-max", "3", "--cutoff", "4.0", "--backend", "numba", "--no-progress"]


def test_per_structure_features_properties_and_names(tmp_path, capsys):
    output = tmp_path / "cgap.npz"
    assert main([str(DATA / "explore_c-gap-20u.xyz"), "-o", str(output), *SMALL]) == 0
    assert "5 rows" in capsys.readouterr().out
    with np.load(output, allow_pickle=False) as npz:
        features = npz["features"]
        expected = SoapPowerSpectrum(cutoff=4.0, n_max=4, l_max=3).compute(
            ase.io.read(DATA / "explore_c-gap-20u.xyz", ":"), per="structure", backend="numba")
        np.testing.assert_allclose(features, expected, rtol=1e-12)
        assert list(npz["structure"]) == [0, 1, 2, 3, 4]
        assert len(npz["feature_names"]) == features.shape[1] and npz["feature_names"][0] == "C-C l=0 n1=0 n2=0"
        assert np.isfinite(npz["energy"]).all()
        assert npz["config_type"].dtype.kind == "U"
        record = json.loads(str(npz["hypers"]))
        assert record["cutoff"] == 4.0 and record["species"] == [6] and record["per"] == "structure"
    table = read_dataset(output)
    assert table.structures is None and table.features.shape == features.shape


def test_per_atom_rows_carry_structure_and_atom_index(tmp_path):
    output = tmp_path / "qm9.npz"
    assert main([str(DATA / "explore_qm9.xyz"), "-o", str(output), "--per", "atom", "--float32", *SMALL]) == 0
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":")
    with np.load(output, allow_pickle=False) as npz:
        assert npz["features"].dtype == np.float32
        assert len(npz["features"]) == sum(len(a) for a in frames)
        assert npz["structure"][-1] == len(frames) - 1 and npz["atom"][0] == 0
        assert "partial_charges" in npz.files


def test_errors_name_the_problem(tmp_path, capsys):
    features_table = tmp_path / "table.npz"
    np.savez(features_table, features=np.ones((3, 2)))
    assert main([str(features_table), "-o", str(tmp_path / "x.npz"), *SMALL]) == 1
    assert "no structures" in capsys.readouterr().err
    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    assert main([str(empty), "-o", str(tmp_path / "x.npz"), *SMALL]) == 1
    assert "empty.xyz" in capsys.readouterr().err


def test_the_descriptor_option(tmp_path, capsys):
    """--descriptor bispectrum writes the ν=3 invariants with their names and what they are;
    --spectrum (the older option) and --descriptor must agree."""
    from compute.descriptors import SoapBispectrum

    output = tmp_path / "b3.npz"
    options = ["--n-max", "2", "--l-max", "2", "--cutoff", "4.0", "--backend", "numba", "--no-progress"]
    assert main([str(DATA / "explore_qm9.xyz"), "-o", str(output), "--descriptor", "bispectrum", *options]) == 0
    frames = ase.io.read(DATA / "explore_qm9.xyz", ":")
    calculator = SoapBispectrum(cutoff=4.0, n_max=2, l_max=2)
    with np.load(output, allow_pickle=False) as npz:
        np.testing.assert_allclose(npz["features"], calculator.compute(frames, per="structure", backend="numba"), rtol=1e-12)
        assert npz["feature_names"].tolist() == calculator.feature_names(calculator.species_for(frames))
        assert json.loads(str(npz["hypers"]))["spectrum"] == "bispectrum"
    assert main([str(DATA / "explore_qm9.xyz"), "-o", str(output), "--descriptor", "radial", "--spectrum", "power", *options]) == 1
    assert "disagree" in capsys.readouterr().err


def test_the_new_descriptors_end_to_end(tmp_path, capsys):
    """--descriptor soap-lode (periodic files only), lambda-soap, and bispectrum --compression K
    (fitted on the file's own atoms) write the calculator's numbers, names and extra hypers."""
    from compute.descriptors import LambdaSoapInvariants, SoapBispectrum, SoapLodePowerSpectrum

    options = ["--n-max", "2", "--l-max", "2", "--cutoff", "4.0", "--backend", "numba", "--no-progress"]
    hypers = dict(cutoff=4.0, n_max=2, l_max=2)
    carbon = ase.io.read(DATA / "explore_c-gap-20u.xyz", ":")
    qm9 = ase.io.read(DATA / "explore_qm9.xyz", ":")
    cases = [
        (["--descriptor", "soap-lode", "--smearing", "1.5"], DATA / "explore_c-gap-20u.xyz",
         SoapLodePowerSpectrum(**hypers, smearing=1.5), carbon, "structure"),
        (["--descriptor", "lambda-soap"], DATA / "explore_qm9.xyz", LambdaSoapInvariants(**hypers), qm9, "structure"),
        (["--descriptor", "bispectrum", "--compression", "3", "--per", "atom"], DATA / "explore_qm9.xyz",
         SoapBispectrum(**hypers, compression=3).fit(qm9, backend="numba"), qm9, "atom"),
    ]
    for extra, source, calculator, frames, per in cases:
        output = tmp_path / "out.npz"
        assert main([str(source), "-o", str(output), *extra, *options]) == 0, capsys.readouterr().err
        with np.load(output, allow_pickle=False) as npz:
            expected = calculator.compute(frames, per=per, backend="numba")
            np.testing.assert_allclose(npz["features"], expected, rtol=1e-12, atol=1e-14)
            assert npz["feature_names"].tolist() == calculator.feature_names(calculator.species_for(frames))
            record = json.loads(str(npz["hypers"]))
        assert record["spectrum"] == extra[1] and record["per"] == per
    assert record["compression"] == 3 and "fitted_on" in record
    assert main([str(DATA / "explore_qm9.xyz"), "-o", str(tmp_path / "x.npz"), "--descriptor", "soap-lode", *options]) == 1
    assert "frame 0 is not periodic" in capsys.readouterr().err
    assert main([str(DATA / "explore_qm9.xyz"), "-o", str(tmp_path / "x.npz"), "--compression", "3", *options]) == 1
    assert "'soap' takes no hyperparameter compression" in capsys.readouterr().err
