"""Tests for compute.export on real data: what is written reads back as what was selected.

chemiscope files are checked three ways: against chemiscope's own Python input builder
(``chemiscope.create_input`` normalises and validates every part of the input; our output must be
a fixed point of it), by reading them back with ``compute.datasets.read_dataset``, and (browser
test) by loading them into chemiscope's real JavaScript viewer (``chemiscope.min.js`` shipped in
the chemiscope wheel) in headless Chromium: ``DefaultVisualizer.load`` validates the dataset and
the settings and throws on anything it cannot show.
"""

from __future__ import annotations

import gzip
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compute.datasets import read_dataset
from compute.export import DEFAULT_CUTOFF, to_chemiscope, to_csv, to_extxyz, to_npz

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SAMPLE = ROOT / "sample_datasets" / "small_molecules-1000.xyz"
STRUCTURE_FILES = [
    "explore_c-gap-20u.xyz",
    "explore_qm9.xyz",
    "explore_mc3d.xyz",
    "showcase.xyz",
    "alpha-mu.xyz",
    "trajectory.xyz",
    "methane_dimer_sample.xyz",
    "CSD-1000R.chemiscope.json",
]


@pytest.fixture(scope="module")
def sample():
    return read_dataset(SAMPLE)


@pytest.fixture(scope="module")
def csd():
    return read_dataset(DATA / "CSD-1000R.chemiscope.json")


@pytest.fixture(scope="module")
def cgap():
    return read_dataset(DATA / "explore_c-gap-20u.xyz")


def _selection(n: int, seed: int = 0) -> np.ndarray:
    """A shuffled selection of about half the rows (at least one)."""
    rng = np.random.default_rng(seed)
    return rng.permutation(n)[: max(1, n // 2)]


def assert_same_column(expected: pd.Series, actual: pd.Series, name: str, atol: float = 1e-12) -> None:
    if pd.api.types.is_numeric_dtype(expected) and not pd.api.types.is_bool_dtype(expected):
        np.testing.assert_allclose(
            actual.to_numpy(dtype=float, na_value=np.nan), expected.to_numpy(dtype=float, na_value=np.nan),
            rtol=1e-12, atol=atol, equal_nan=True, err_msg=name,
        )
    else:
        assert actual.astype(object).where(actual.notna(), None).tolist() == expected.astype(object).where(expected.notna(), None).tolist(), name


def assert_same_structures(expected, actual, *, cell: bool = True) -> None:
    assert len(actual) == len(expected)
    for a, b in zip(expected, actual):
        np.testing.assert_array_equal(b.numbers, a.numbers)
        np.testing.assert_allclose(b.positions, a.positions, atol=1e-7)
        np.testing.assert_array_equal(b.pbc, a.pbc)
        if cell:
            np.testing.assert_allclose(np.asarray(b.cell), np.asarray(a.cell), atol=1e-7)


# --------------------------------------------------------------------------------------------
# extended XYZ
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("filename", STRUCTURE_FILES)
def test_extxyz_round_trip_keeps_structures_and_properties(filename):
    ds = read_dataset(DATA / filename)
    rows = _selection(ds.n_structures)
    back = read_dataset(to_extxyz(ds, rows), name="selection.xyz")

    assert back.n_structures == len(rows)
    assert_same_structures([ds.structures[i] for i in rows], back.structures)
    expected = ds.structure_properties.iloc[rows].reset_index(drop=True)
    # a property missing on every selected structure has nothing to write
    kept = [c for c in expected.columns if expected[c].notna().any()]
    assert sorted(back.structure_properties.columns) == sorted(kept)
    for c in kept:
        assert_same_column(expected[c], back.structure_properties[c], f"{filename}: {c}")

    offsets = np.concatenate([[0], np.cumsum([len(a) for a in ds.structures])])
    atom_rows = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in rows])
    expected_atoms = ds.atom_properties.iloc[atom_rows].reset_index(drop=True)
    assert sorted(back.atom_properties.columns) == sorted(expected_atoms.columns)
    for c in expected_atoms.columns:
        if c not in ("structure",):
            # ASE writes per-atom columns (like positions) with 8 decimals
            assert_same_column(expected_atoms[c], back.atom_properties[c], f"{filename}: atom {c}", atol=1e-8)


def test_extxyz_sample_dataset_in_selection_order(sample):
    rows = np.array([984, 0, 500, 17])
    text = to_extxyz(sample, rows).decode()
    back = read_dataset(text.encode(), name="x.xyz")
    assert_same_structures([sample.structures[i] for i in rows], back.structures)
    np.testing.assert_allclose(
        back.structure_properties["dft_formation_energy_per_atom_in_eV"],
        sample.structure_properties["dft_formation_energy_per_atom_in_eV"].iloc[rows],
    )
    assert text.count("Properties=") == 4


def test_extxyz_regroups_split_vectors(cgap):
    text = to_extxyz(cgap, [0, 2]).decode()
    header = text.splitlines()[1]
    assert "virial=" in header and "virial[1]" not in header
    assert "Properties=species:S:1:pos:R:3:forces:R:3" in header


def test_extxyz_skips_missing_values_per_frame_and_adds_extras():
    text = (
        b"1\nenergy=-1.5 label=a\nHe 0 0 0\n"
        b"1\nlabel=b\nNe 0 0 0\n"
        b"1\nenergy=-3.5 label=c\nAr 0 0 0\n"
    )
    ds = read_dataset(text, name="three.xyz")
    assert np.isnan(ds.structure_properties["energy"][1])
    out = to_extxyz(ds, [1, 2], extra_properties={"pc1": [0.5, np.nan], "cluster": np.array(["x", "y"])}).decode()
    headers = [line for line in out.splitlines() if "Properties=" in line]
    assert "energy" not in headers[0] and "pc1=0.5" in headers[0]
    assert "energy=-3.5" in headers[1] and "pc1" not in headers[1]
    back = read_dataset(out.encode(), name="back.xyz")
    props = back.structure_properties
    assert np.isnan(props["energy"][0]) and props["energy"][1] == -3.5
    assert props["label"].tolist() == ["b", "c"]
    assert props["cluster"].tolist() == ["x", "y"]
    np.testing.assert_allclose(props["pc1"], [0.5, np.nan])


def test_extxyz_per_atom_marks_selected_centres(csd):
    table = csd.atom_properties
    # centres from structures 7 and 2, given out of order
    rows = np.flatnonzero(table["structure"].to_numpy() == 7)[[3, 0]].tolist() + np.flatnonzero(table["structure"].to_numpy() == 2)[[5]].tolist()
    pc = np.array([1.0, 2.0, 3.0])
    back = read_dataset(to_extxyz(csd, rows, per="atom", extra_properties={"pc1": pc}), name="atoms.xyz")
    assert back.n_structures == 2
    assert_same_structures([csd.structures[2], csd.structures[7]], back.structures)
    selected = back.atom_properties["selected"].astype(bool).to_numpy()
    assert selected.sum() == 3
    chosen = back.atom_properties[selected]
    assert chosen["structure"].tolist() == [0, 1, 1]
    assert chosen["atom"].tolist() == [5, 0, 3]
    assert chosen["pc1"].tolist() == [3.0, 2.0, 1.0]
    assert back.atom_properties["pc1"][~selected].isna().all()
    np.testing.assert_allclose(chosen["CS_local"], table["CS_local"].iloc[[rows[2], rows[1], rows[0]]])
    # structure properties of both structures
    np.testing.assert_allclose(back.structure_properties["ENERGY"], csd.structure_properties["ENERGY"].iloc[[2, 7]])


def test_extxyz_refuses_features_tables_and_name_clashes(cgap):
    table = read_dataset(to_npz(np.eye(3), ["a", "b", "c"], [0, 1, 2]), name="f.npz")
    with pytest.raises(ValueError, match="features table"):
        to_extxyz(table, [0])
    with pytest.raises(ValueError, match="'energy'"):
        to_extxyz(cgap, [0], extra_properties={"energy": [1.0]})
    with pytest.raises(ValueError, match="one value per selected row"):
        to_extxyz(cgap, [0, 1], extra_properties={"pc1": [1.0]})


def test_extxyz_column_names_of_properties_and_extras_follow_one_rule():
    """Dataset atom properties and per-atom extras get the same extended XYZ column names."""
    from compute.formats.extxyz import column_name

    doc = {
        "structures": [{"size": 2, "names": ["H", "H"], "x": [0, 0], "y": [0, 0], "z": [0, 0.74]}],
        "properties": {"q a": {"target": "atom", "values": [0.5, -0.5]}},
    }
    ds = read_dataset(json.dumps(doc).encode(), name="h2.json")
    back = read_dataset(to_extxyz(ds, [1], per="atom", extra_properties={"pc 1": [2.0]}), name="x.xyz")
    assert column_name("q a") == "q_a" and column_name("pc 1") == "pc_1"
    assert back.atom_properties["q_a"].tolist() == [0.5, -0.5]
    assert back.atom_properties["pc_1"].isna().tolist() == [True, False]
    with pytest.raises(ValueError, match="'q:a'"):  # cleaned to the dataset's column q_a
        to_extxyz(ds, [1], per="atom", extra_properties={"q:a": [2.0]})


# --------------------------------------------------------------------------------------------
# selections
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", ["extxyz", "csv", "chemiscope"])
def test_selection_errors(writer, cgap):
    def call(indices):
        if writer == "extxyz":
            return to_extxyz(cgap, indices)
        if writer == "csv":
            return to_csv(cgap, indices, columns={})
        n = len(np.atleast_1d(indices)) if not isinstance(indices, list) else len(indices)
        return to_chemiscope(cgap, indices, map_coordinates={"x": np.zeros(n), "y": np.zeros(n)})

    with pytest.raises(ValueError, match="nothing selected"):
        call([])
    with pytest.raises(ValueError, match="nothing selected"):
        call(np.zeros(5, dtype=bool))
    with pytest.raises(ValueError, match=r"out of range \(valid: 0 to 4\): 5, -1"):
        call([0, 5, -1])
    with pytest.raises(ValueError, match="more than once: 2"):
        call([2, 1, 2])
    with pytest.raises(ValueError, match="integers"):
        call(np.array([0.5]))


def test_boolean_mask_selects_rows(cgap):
    mask = np.array([False, True, False, True, False])
    back = read_dataset(to_extxyz(cgap, mask), name="m.xyz")
    assert_same_structures([cgap.structures[1], cgap.structures[3]], back.structures)


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_has_index_columns_and_properties(cgap):
    rows = np.array([4, 0, 2])
    pc = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    data = to_csv(cgap, rows, columns={"PC1": pc[:, 0], "PC2": pc[:, 1], "predicted energy": [1.0, 2.0, np.nan]})
    table = pd.read_csv(io.BytesIO(data))
    props = cgap.structure_properties
    assert list(table.columns[:4]) == ["index", "PC1", "PC2", "predicted energy"]
    assert list(table.columns[4:]) == [str(c) for c in props.columns]
    assert table["index"].tolist() == rows.tolist()
    np.testing.assert_allclose(table[["PC1", "PC2"]], pc)
    assert np.isnan(table["predicted energy"][2])
    np.testing.assert_allclose(table["energy"], props["energy"].iloc[rows])
    assert table["config_type"].tolist() == props["config_type"].iloc[rows].tolist()


def test_csv_renames_a_property_called_index_and_refuses_clashing_columns():
    qm9 = read_dataset(DATA / "explore_qm9.xyz")
    table = pd.read_csv(io.BytesIO(to_csv(qm9, [3, 1])))
    assert table["index"].tolist() == [3, 1]
    assert table["index (property)"].tolist() == qm9.structure_properties["index"].iloc[[3, 1]].tolist()
    assert table["smiles"].tolist() == ["C#C", "N"]
    with pytest.raises(ValueError, match="'gap'"):
        to_csv(qm9, [0], columns={"gap": [1.0]})


def test_csv_per_atom(csd):
    rows = np.array([400, 3, 1361])
    table = pd.read_csv(io.BytesIO(to_csv(csd, rows, columns={"PC1": [1.0, 2.0, 3.0]}, per="atom")))
    assert list(table.columns[:4]) == ["index", "structure", "atom", "PC1"]
    atoms = csd.atom_properties.iloc[rows]
    assert table["structure"].tolist() == atoms["structure"].tolist()
    assert table["atom"].tolist() == atoms["atom"].tolist()
    np.testing.assert_allclose(table["CS_local"], atoms["CS_local"])
    np.testing.assert_allclose(table["ENERGY"], csd.structure_properties["ENERGY"].iloc[atoms["structure"]])


# --------------------------------------------------------------------------------------------
# NPZ
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def soap_features(sample):
    from compute.descriptors import SoapPowerSpectrum

    frames = sample.structures[:40]
    soap = SoapPowerSpectrum(cutoff=4.0, n_max=3, l_max=2)
    species = soap.species_for(sample.structures).tolist()
    X = soap.compute(frames, per="structure", backend="numpy", species=species)
    return X, soap.feature_names(species)


def test_npz_features_with_names_index_and_extras(soap_features, sample):
    X, names = soap_features
    rows = np.array([39, 2, 11, 0])
    props = sample.structure_properties.iloc[rows]
    data = to_npz(
        X, names, rows,
        extra={"PC1": np.arange(4.0), "energy": props["dft_formation_energy_per_atom_in_eV"],
               "cluster": pd.Categorical(["a", None, "b", "a"]), "hypers": json.dumps({"cutoff": 4.0})},
    )
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["features"], X[rows])
        assert npz["feature_names"].tolist() == names
        assert npz["index"].tolist() == rows.tolist()
        assert npz["cluster"].tolist() == ["a", "", "b", "a"]
        assert json.loads(str(npz["hypers"])) == {"cutoff": 4.0}
    table = read_dataset(data, name="selection.npz")
    np.testing.assert_array_equal(table.features, X[rows])
    assert table.feature_names == names
    assert table.structure_properties["index"].tolist() == rows.tolist()
    np.testing.assert_allclose(table.structure_properties["energy"], props["dft_formation_energy_per_atom_in_eV"])
    assert "hypers" in table.skipped_properties  # not one value per row


def test_npz_selected_feature_columns(soap_features):
    X, names = soap_features
    columns = [5, 0, 17]
    data = to_npz(X[:, columns], [names[j] for j in columns], [1, 2])
    table = read_dataset(data, name="cols.npz")
    assert table.feature_names == [names[5], names[0], names[17]]
    np.testing.assert_array_equal(table.features, X[[1, 2]][:, columns])


def test_npz_errors(soap_features):
    X, names = soap_features
    with pytest.raises(ValueError, match="nothing selected"):
        to_npz(X, names, [])
    with pytest.raises(ValueError, match="out of range.*40"):
        to_npz(X, names, [0, 40])
    with pytest.raises(ValueError, match="feature names"):
        to_npz(X, names[:-1], [0])
    with pytest.raises(ValueError, match="feature_names are required"):
        to_npz(X, None, [0])
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="row 3 is NaN"):
        to_npz(bad, names, [3])
    with pytest.raises(ValueError, match="reserved"):
        to_npz(X, names, [0], extra={"index": [1]})


# --------------------------------------------------------------------------------------------
# chemiscope
# --------------------------------------------------------------------------------------------


def _chemiscope_normalised(doc: dict) -> dict:
    """The same input passed through chemiscope's own builder and validator."""
    chemiscope = pytest.importorskip("chemiscope")
    environments = None
    if "environments" in doc:
        environments = [(e["structure"], e["center"], e["cutoff"]) for e in doc["environments"]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "property has NaNs" notices
        return chemiscope.create_input(
            structures=doc["structures"], metadata=doc["meta"], properties=doc["properties"],
            environments=environments, settings=doc["settings"],
        )


def _strict(token):
    raise AssertionError(f"bare {token} in a JSON file: JSON.parse and strict parsers refuse it")


def _revive_nan(value):
    """chemiscope's loaders read the string '***NaN***' as NaN (its JSON.parse reviver)."""
    if isinstance(value, dict):
        return {k: _revive_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive_nan(v) for v in value]
    return np.nan if value == "***NaN***" else value


def _loads(data: bytes) -> dict:
    """Strict JSON (no bare NaN), read as chemiscope's loaders read it."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return _revive_nan(json.loads(data, parse_constant=_strict))


def _same_json(a, b) -> bool:
    """Equality with NaN == NaN."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_chemiscope_per_structure(sample):
    rows = np.array([10, 3, 700, 42, 0])
    pcs = np.array([[0.1, 1.0], [0.2, 2.0], [0.3, np.nan], [0.4, 4.0], [0.5, 5.0]])
    data = to_chemiscope(
        sample, rows, map_coordinates={"PC1": pcs[:, 0], "PC2": pcs[:, 1]},
        properties={"cluster": np.array(["0", "1", "1", "0", "2"]),
                    "predicted": {"values": [1.0, 2.0, 3.0, 4.0, 5.0], "units": "eV/atom", "description": "KRR"}},
        meta={"name": "five molecules", "description": "a test"}, color="cluster",
    )
    doc = _loads(data)
    assert doc["meta"] == {"name": "five molecules", "description": "a test"}
    assert [s["size"] for s in doc["structures"]] == [len(sample.structures[i]) for i in rows]
    assert all("cell" not in s for s in doc["structures"])  # molecules: no cell drawn
    props = doc["properties"]
    assert props["PC1"] == {"target": "structure", "values": pcs[:, 0].tolist(), "description": "map coordinate"}
    assert np.isnan(props["PC2"]["values"][2])
    assert props["cluster"]["values"] == ["0", "1", "1", "0", "2"]
    assert props["predicted"]["units"] == "eV/atom" and props["predicted"]["description"] == "KRR"
    np.testing.assert_allclose(
        props["dft_formation_energy_per_atom_in_eV"]["values"],
        sample.structure_properties["dft_formation_energy_per_atom_in_eV"].iloc[rows],
    )
    settings = doc["settings"]
    assert settings["target"] == "structure"
    assert settings["map"]["x"] == {"property": "PC1"} and settings["map"]["y"] == {"property": "PC2"}
    assert settings["map"]["z"] == {"property": ""} and settings["map"]["color"] == {"property": "cluster"}
    assert "environments" not in doc

    # chemiscope's own builder accepts it and changes nothing
    normalised = _chemiscope_normalised(doc)
    for key in ("meta", "structures", "properties", "settings"):
        assert _same_json(normalised[key], doc[key]), key

    back = read_dataset(data, name="selection.json")
    assert_same_structures([sample.structures[i] for i in rows], back.structures, cell=False)
    np.testing.assert_allclose(back.structure_properties["PC1"], pcs[:, 0])
    assert back.structure_properties["cluster"].tolist() == ["0", "1", "1", "0", "2"]


def test_chemiscope_periodic_gzip_and_categories(cgap):
    rows = [4, 1, 3]
    data = to_chemiscope(cgap, rows, map_coordinates={"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0], "c": [0.0, 0.0, 1.0]},
                         color="energy", compress=True)
    assert data[:2] == b"\x1f\x8b"
    doc = _loads(data)
    for s, i in zip(doc["structures"], rows):
        np.testing.assert_allclose(s["cell"], np.asarray(cgap.structures[i].cell).reshape(-1))
    assert doc["properties"]["config_type"]["values"] == cgap.structure_properties["config_type"].iloc[rows].astype(str).tolist()
    assert doc["settings"]["map"]["z"] == {"property": "c"}
    assert doc["settings"]["structure"][0]["unitCell"] is True
    normalised = _chemiscope_normalised(doc)
    assert _same_json(normalised["properties"], doc["properties"])
    back = read_dataset(data, name="sel.json.gz")
    assert_same_structures([cgap.structures[i] for i in rows], back.structures)
    for c in cgap.structure_properties.columns:
        assert_same_column(cgap.structure_properties[c].iloc[rows].reset_index(drop=True), back.structure_properties[c], c)


def test_chemiscope_per_atom_environments(csd):
    table = csd.atom_properties
    structure = table["structure"].to_numpy()
    rows = np.concatenate([np.flatnonzero(structure == 6)[[10, 2]], np.flatnonzero(structure == 1)[[0, 7, 8]]])
    n = len(rows)
    coords = {"KPCA 1": np.linspace(0, 1, n), "KPCA 2": np.linspace(1, 2, n)}
    data = to_chemiscope(csd, rows, map_coordinates=coords, environments={"cutoff": 4.5},
                         properties={"error": np.arange(n, dtype=float)}, color="CS_local")
    doc = _loads(data)
    assert len(doc["structures"]) == 2  # structures 1 and 6, in that order
    assert doc["environments"] == [
        {"structure": 1, "center": 10, "cutoff": 4.5},
        {"structure": 1, "center": 2, "cutoff": 4.5},
        {"structure": 0, "center": 0, "cutoff": 4.5},
        {"structure": 0, "center": 7, "cutoff": 4.5},
        {"structure": 0, "center": 8, "cutoff": 4.5},
    ]
    props = doc["properties"]
    assert props["KPCA 1"]["target"] == "atom" and len(props["KPCA 1"]["values"]) == n
    assert props["CS_local"]["target"] == "atom"
    np.testing.assert_allclose(props["CS_local"]["values"], table["CS_local"].iloc[rows])
    assert props["ENERGY"]["target"] == "structure"
    np.testing.assert_allclose(props["ENERGY"]["values"], csd.structure_properties["ENERGY"].iloc[[1, 6]])
    assert doc["settings"]["target"] == "atom"
    assert doc["settings"]["structure"][0]["environments"] == {"activated": True, "cutoff": 4.5}

    normalised = _chemiscope_normalised(doc)
    assert normalised["environments"] == doc["environments"]
    assert _same_json(normalised["properties"], doc["properties"])

    back = read_dataset(data, name="atoms.json")
    assert_same_structures([csd.structures[1], csd.structures[6]], back.structures)
    assert back.environments[["structure", "center"]].values.tolist() == [[1, 10], [1, 2], [0, 0], [0, 7], [0, 8]]
    np.testing.assert_allclose(back.environments["cutoff"], 4.5)
    offsets = np.concatenate([[0], np.cumsum([len(a) for a in back.structures])])
    env_rows = offsets[back.environments["structure"]] + back.environments["center"]
    np.testing.assert_allclose(back.atom_properties["CS_local"].iloc[env_rows], table["CS_local"].iloc[rows])
    np.testing.assert_allclose(back.atom_properties["KPCA 1"].iloc[env_rows], coords["KPCA 1"])


def test_chemiscope_every_row_by_default(cgap):
    doc = _loads(to_chemiscope(cgap, map_coordinates={"x": np.arange(5.0), "y": np.ones(5)}, environments=None))
    assert len(doc["structures"]) == 5 and doc["meta"]["name"] == "explore_c-gap-20u.xyz"
    doc = _loads(to_chemiscope(cgap, [0], map_coordinates={"x": [0.0], "y": [0.0]}, environments=True))
    assert doc["environments"] == [{"structure": 0, "center": 0, "cutoff": DEFAULT_CUTOFF}]


def test_chemiscope_errors(cgap):
    with pytest.raises(ValueError, match="at least two"):
        to_chemiscope(cgap, [0], map_coordinates={"x": [1.0]})
    with pytest.raises(ValueError, match="color='nope'"):
        to_chemiscope(cgap, [0], map_coordinates={"x": [1.0], "y": [2.0]}, color="nope")
    with pytest.raises(ValueError, match="'energy' is given twice"):
        to_chemiscope(cgap, [0], map_coordinates={"x": [1.0], "y": [2.0]}, properties={"energy": [1.0]})
    with pytest.raises(ValueError, match="cutoff"):
        to_chemiscope(cgap, [0], map_coordinates={"x": [1.0], "y": [2.0]}, environments=-1.0)
    with pytest.raises(ValueError, match="unknown key"):
        to_chemiscope(cgap, [0], map_coordinates={"x": [1.0], "y": [2.0]}, meta={"title": "x"})
    table = read_dataset(to_npz(np.eye(2), ["a", "b"], [0, 1]), name="f.npz")
    with pytest.raises(ValueError, match="features table"):
        to_chemiscope(table, [0], map_coordinates={"x": [1.0], "y": [2.0]})


# --------------------------------------------------------------------------------------------
# chemiscope itself opens the files (its JavaScript viewer, in headless Chromium)
# --------------------------------------------------------------------------------------------

_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>
<div id="meta"></div><div id="map" style="width:600px;height:450px"></div>
<div id="structure" style="width:600px;height:450px"></div><div id="info"></div></body></html>"""

# the parsing chemiscope's own loaders use (Python's json writes NaN, which JSON.parse refuses)
_LOAD = """async (text) => {
    const dataset = JSON.parse(text.replace(/\\bNaN\\b/g, '"***NaN***"'), (k, v) => v === '***NaN***' ? NaN : v);
    try {
        const viewer = await Chemiscope.DefaultVisualizer.load(
            {meta: 'meta', map: 'map', structure: 'structure', info: 'info'}, dataset);
        const settings = viewer.saveSettings();
        // what it drew: the map's points (its main trace) and the atoms of the structure shown
        // (chemiscope's internals: its map's plotly and its viewer's 3Dmol model)
        let shown = null;
        for (let k = 0; k < 100 && !shown; k++) {
            const cell = Array.from(viewer.structure._cellsData.values())[0];
            const current = cell && cell.viewer && cell.viewer._current;
            if (current && current.model) { shown = {structure: cell.current.structure, atoms: current.model.selectedAtoms({}).length}; }
            else { await new Promise((r) => setTimeout(r, 100)); }
        }
        const points = viewer.map._plot && viewer.map._plot.data ? (viewer.map._plot.data[0].x || []).length : null;
        return {ok: true, x: settings.map.x.property, y: settings.map.y.property, z: settings.map.z.property,
                color: settings.map.color.property, target: settings.target, points, shown};
    } catch (error) {
        return {ok: false, error: String(error)};
    }
}"""


@pytest.mark.browser
@pytest.mark.slow
def test_chemiscope_viewer_opens_our_files(browser_page, sample, cgap, csd):
    chemiscope = pytest.importorskip("chemiscope")
    script = Path(chemiscope.__file__).parent / "sphinx" / "static" / "chemiscope.min.js"
    assert script.exists(), "chemiscope wheel without its JavaScript viewer"
    rows = np.arange(0, 985, 7)
    atom_rows = np.arange(0, csd.n_atoms, 11)
    cases = {
        "molecules": (to_chemiscope(sample, rows, map_coordinates={"PC1": np.sin(rows), "PC2": np.cos(rows)},
                                    properties={"cluster": (rows % 3).astype(str)}, color="cluster"),
                      ("PC1", "PC2", "", "cluster", "structure")),
        "periodic-3d": (to_chemiscope(cgap, [0, 1, 2, 3, 4], map_coordinates={"a": np.arange(5.0), "b": np.ones(5), "c": [0, 1, np.nan, 1, 0]},
                                      color="energy"),
                        ("a", "b", "c", "energy", "structure")),
        "environments": (to_chemiscope(csd, atom_rows, map_coordinates={"u": np.sin(atom_rows), "v": np.cos(atom_rows)},
                                       environments={"cutoff": 4.0}, color="CS_local"),
                         ("u", "v", "", "CS_local", "atom")),
    }
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content(_PAGE)
    page.add_script_tag(path=str(script))
    expected = {  # (map points, the structures in the file's order)
        "molecules": (len(rows), [sample.structures[i] for i in rows]),
        "periodic-3d": (5, cgap.structures[:5]),
        "environments": (len(atom_rows), None),
    }
    for name, (data, (x, y, z, color, target)) in cases.items():
        result = page.evaluate(_LOAD, data.decode())
        assert result["ok"], f"{name}: chemiscope refused the file: {result.get('error')}"
        assert (result["x"], result["y"], result["z"], result["color"], result["target"]) == (x, y, z, color, target), name
        points, structures = expected[name]
        assert result["points"] == points, (name, result["points"])
        document = _loads(data)
        written = [len(s["names"]) for s in document["structures"]]
        # a periodic per-atom file asks for a supercell (neighbours beyond the cell are drawn)
        supercell = (document.get("settings", {}).get("structure") or [{}])[0].get("supercell", [1, 1, 1])
        assert result["shown"] is not None, name
        assert result["shown"]["atoms"] == written[result["shown"]["structure"]] * int(np.prod(supercell)), (name, result["shown"], supercell)
        if structures is not None:
            assert written == [len(a) for a in structures], name
    # the check has teeth: chemiscope refuses a broken file
    broken = _loads(cases["molecules"][0])
    broken["properties"]["PC1"]["values"].pop()
    result = page.evaluate(_LOAD, json.dumps(broken))
    assert not result["ok"] and "PC1" in result["error"]
    assert not errors, errors


# --------------------------------------------------------------------------------------------
# ASE database
# --------------------------------------------------------------------------------------------


def _db_rows(data: bytes, tmp_path) -> list:
    import ase.db

    path = tmp_path / "export.db"
    path.write_bytes(data)
    with ase.db.connect(str(path), type="db") as db:
        return list(db.select())


def test_ase_db_where_each_property_goes(cgap, tmp_path):
    """energy/stress/forces as ASE's calculator results, text as key-value pairs, the 9-component
    virial (no key-value pair can hold it) as a data array, per-atom arrays (n_atoms, k)."""
    from compute.export import to_ase_db

    rows = np.array([3, 0])
    data = to_ase_db(cgap, rows, extra_properties={"PC 1": [0.25, -1.0], "pc2": [1.5, np.nan], "label": ["1.5", "b"]})
    db_rows = _db_rows(data, tmp_path)
    assert [row.natoms for row in db_rows] == [len(cgap.structures[i]) for i in rows]
    table = cgap.structure_properties
    for j, (i, row) in enumerate(zip(rows, db_rows)):
        assert row.energy == table["energy"].iloc[i]
        np.testing.assert_array_equal(row.stress, table[[f"stress[{k}]" for k in range(1, 7)]].iloc[i].to_numpy(float))
        np.testing.assert_array_equal(row.data["virial"], table[[f"virial[{k}]" for k in range(1, 10)]].iloc[i].to_numpy(float))
        lo, hi = cgap.atom_offsets[i], cgap.atom_offsets[i + 1]
        np.testing.assert_array_equal(row.forces, cgap.atom_properties[["forces[1]", "forces[2]", "forces[3]"]].iloc[lo:hi].to_numpy())
        assert row.key_value_pairs["config_type"] == table["config_type"].iloc[i]
        # a name that is not an identifier, and text ASE would read as a number, go to data
        assert "PC 1" not in row.key_value_pairs and row.data["PC 1"] == [0.25, -1.0][j]
        assert row.data["label"] == ["1.5", "b"][j] if j == 0 else row.key_value_pairs["label"] == "b"
    assert db_rows[0].pc2 == 1.5 and "pc2" not in db_rows[1].key_value_pairs  # NaN: left out of that row
    back = read_dataset(data, name="export.db")
    assert_same_structures([cgap.structures[i] for i in rows], back.structures)
    assert back.structure_properties["PC 1"].tolist() == [0.25, -1.0]
    assert back.structure_properties["pc2"].tolist()[0] == 1.5 and np.isnan(back.structure_properties["pc2"].iloc[1])
    assert back.structure_properties["label"].astype(str).tolist() == ["1.5", "b"]
    for c in table.columns:
        assert_same_column(table[c].iloc[rows].reset_index(drop=True), back.structure_properties[c], c, atol=0)


def test_ase_db_tags_and_masses_native_and_per_atom_selection(tmp_path):
    """MC3D's tags and masses are stored as ASE stores them; per atom, the structures holding the
    selected atoms come once each with a selected flag, source_index and per-atom extras."""
    from compute.export import to_ase_db

    ds = read_dataset(DATA / "explore_mc3d.xyz")
    data = to_ase_db(ds, np.arange(ds.n_structures))
    stored = 0
    for i, row in enumerate(_db_rows(data, tmp_path)):
        lo, hi = ds.atom_offsets[i], ds.atom_offsets[i + 1]
        atoms = row.toatoms()
        for name, value in (("tags", atoms.get_tags), ("masses", atoms.get_masses)):
            expected = ds.atom_properties[name].iloc[lo:hi].to_numpy(float)
            assert atoms.has(name) == (not np.isnan(expected).all()), (i, name)  # absent where the file has none
            if atoms.has(name):
                np.testing.assert_array_equal(value(), expected)
                assert name not in row.data
                stored += 1
    assert stored >= 2

    atom_rows = np.array([ds.atom_offsets[3] + 1, ds.atom_offsets[1], ds.atom_offsets[3]])
    data = to_ase_db(ds, atom_rows, per="atom", extra_properties={"u": [1.0, 2.0, 3.0], "cluster": ["a", "b", "c"]})
    db_rows = _db_rows(data, tmp_path)
    assert [row.source_index for row in db_rows] == [1, 3]
    assert db_rows[1].data["selected"][:, 0].tolist()[:3] == [True, True, False]
    assert db_rows[1].data["u"][:2, 0].tolist() == [3.0, 1.0] and np.isnan(db_rows[1].data["u"][2, 0])
    back = read_dataset(data, name="atoms.db")
    assert back.n_structures == 2
    assert back.atom_properties["selected"].astype(bool).sum() == 3
    assert back.atom_properties["cluster"].astype(str).tolist()[: len(ds.structures[1])] == ["b"] + [""] * (len(ds.structures[1]) - 1)
    assert back.structure_properties["source_index"].tolist() == [1, 3]


def test_ase_db_errors(cgap, tmp_path):
    from compute.export import to_ase_db

    with pytest.raises(ValueError, match="nothing selected"):
        to_ase_db(cgap, [])
    with pytest.raises(ValueError, match="out of range"):
        to_ase_db(cgap, [0, 5])
    with pytest.raises(ValueError, match="more than once"):
        to_ase_db(cgap, [1, 1])
    with pytest.raises(ValueError, match="already exists"):
        to_ase_db(cgap, [0], extra_properties={"energy": [1.0]})
    with pytest.raises(ValueError, match="one value per selected row"):
        to_ase_db(cgap, [0, 1], extra_properties={"pc1": [1.0]})
    with pytest.raises(ValueError, match="without structures"):
        to_ase_db(read_dataset(to_npz(np.eye(2), ["a", "b"], [0, 1]), name="f.npz"), [0])


def test_ase_db_is_the_db_formats_writer():
    from compute.datasets import FORMATS
    from compute.export import to_ase_db

    assert FORMATS["db"].writer is to_ase_db


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("name", ["alpha-mu.xyz", "explore_mc3d.xyz", "explore_qm9.xyz", "methane_dimer_sample.xyz", "showcase.xyz",
                                  "trajectory.xyz", "CSD-1000R.chemiscope.json"])
def test_chemiscope_viewer_opens_every_test_file_per_structure_and_per_atom(browser_page, name):
    """Each real file, exported per structure and per atom (a few rows, map coordinates with a
    NaN), is opened by chemiscope's own viewer: no error, one point per exported row, and
    the structure shown with its atoms (times the supercell a periodic per-atom file asks for)."""
    chemiscope = pytest.importorskip("chemiscope")
    dataset = read_dataset(DATA / name)
    script = Path(chemiscope.__file__).parent / "sphinx" / "static" / "chemiscope.min.js"
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content(_PAGE)
    page.add_script_tag(path=str(script))
    structure_rows = np.arange(0, dataset.n_structures, max(1, dataset.n_structures // 6))[:6]
    atom_rows = np.arange(0, dataset.n_atoms, max(1, dataset.n_atoms // 40))[:40]
    for per, rows in (("structure", structure_rows), ("atom", atom_rows)):
        values = np.linspace(0.0, 1.0, len(rows))
        values[len(rows) // 2] = np.nan
        data = to_chemiscope(dataset, rows, map_coordinates={"PC1": values, "PC2": values[::-1].copy()},
                             environments=True if per == "atom" else None)
        result = page.evaluate(_LOAD, data.decode())
        assert result["ok"], f"{name} per {per}: chemiscope refused the file: {result.get('error')}"
        assert result["x"] == "PC1" and result["target"] == per, result
        assert result["points"] == len(rows), (name, per, result["points"])
        document = _loads(data)
        written = [len(s["names"]) for s in document["structures"]]
        supercell = (document.get("settings", {}).get("structure") or [{}])[0].get("supercell", [1, 1, 1])
        assert result["shown"] is not None, (name, per)
        assert result["shown"]["atoms"] == written[result["shown"]["structure"]] * int(np.prod(supercell)), (name, per, result["shown"])
    assert not errors, errors
