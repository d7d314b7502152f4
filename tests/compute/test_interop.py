"""Exports of every real dataset (/work/shared/data, described in its README; small subsets of the
big files) loaded back by the other tools: extended XYZ by ASE (exact values), chemiscope JSON by
a strict JSON parser and ``chemiscope.create_input``; and the defects of issue 10, one test each."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest

from compute.datasets import read_dataset
from compute.export import to_ase_db, to_chemiscope, to_extxyz

DATA = Path("/work/shared/data")
if not DATA.is_dir():  # the copies in the repository
    DATA = Path(__file__).resolve().parents[1] / "data"
FILES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".xyz", ".json"))
#: frames kept of the big files (CI limits)
SUBSET = 40


def _dataset(filename: str):
    path = DATA / filename
    if filename == "small_molecules-1000.xyz":
        frames = ase.io.read(path, index=f":{SUBSET}")
        buffer = io.StringIO()
        ase.io.write(buffer, frames, format="extxyz")
        return read_dataset(buffer.getvalue().encode(), name=filename)
    return read_dataset(path)


def _strict(token):
    raise AssertionError(f"bare {token}: not JSON")


def _chemiscope_loads(data: bytes) -> dict:
    """Strict JSON, then chemiscope's reviver (its loaders read '***NaN***' as NaN)."""
    return json.loads(data, parse_constant=_strict,
                      object_hook=lambda d: {k: ([np.nan if x == "***NaN***" else x for x in v] if isinstance(v, list) else v)
                                             for k, v in d.items()})


def _create_input(doc: dict) -> dict:
    chemiscope = pytest.importorskip("chemiscope")
    environments = [(e["structure"], e["center"], e["cutoff"]) for e in doc["environments"]] if "environments" in doc else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return chemiscope.create_input(structures=doc["structures"], metadata=doc["meta"], properties=doc["properties"],
                                       environments=environments, settings=doc["settings"],
                                       shapes=doc.get("shapes"))


def _coords(n: int, one_component: bool = False) -> dict:
    first = np.linspace(-1, 1, n)
    second = np.zeros(n) if one_component else np.cos(np.arange(n))
    second[:: 3] = np.nan if n > 2 else second[:: 3]  # missing values
    return {"PC1": first, "PC2": second}


@pytest.mark.parametrize("filename", FILES)
def test_every_file_exports_to_ase_and_chemiscope(filename):
    ds = _dataset(filename)
    n = ds.n_structures
    rows = np.arange(n)[::-1][: max(1, n // 2)]
    extra = {"cluster": np.array([f"c {k % 2}" for k in range(len(rows))]), "score": np.where(np.arange(len(rows)) % 2, 1.0, np.nan)}

    # extended XYZ per structure: ASE reads exactly what the dataset holds
    frames = ase.io.read(io.StringIO(to_extxyz(ds, rows, extra_properties=extra).decode()), index=":", format="extxyz")
    assert len(frames) == len(rows)
    for atoms, i in zip(frames, rows):
        np.testing.assert_allclose(atoms.positions, ds.structures[i].positions, atol=1e-7)
        for key, value in atoms.arrays.items():
            if value.dtype.kind == "f":
                assert not np.isnan(value).all(), f"{key} written as NaN on frame {i}"
        for c in ds.structure_properties.columns:
            v = ds.structure_properties[c].iloc[i]
            if isinstance(v, float) and np.isfinite(v) and "[" not in str(c):
                got = atoms.info.get(c, atoms.calc.results.get(c) if atoms.calc else None)
                assert got == pytest.approx(v, rel=1e-12), c
        for key, column in (ds.metadata.get("values") or {}).items():
            if column[i] is not None:
                got = atoms.info[key]
                assert (np.asarray(got).tolist() if isinstance(got, np.ndarray) else got) == column[i], key

    # extended XYZ per atom: the structures holding the selected atoms, with their source index
    atom_rows = np.arange(0, ds.n_atoms, 7)
    frames = ase.io.read(io.StringIO(to_extxyz(ds, atom_rows, per="atom").decode()), index=":", format="extxyz")
    sources = sorted(set(ds.atom_properties["structure"].iloc[atom_rows].tolist()))
    assert [a.info["source_index"] for a in frames] == sources
    assert sum(int(a.arrays["selected"].sum()) for a in frames) == len(atom_rows)

    # chemiscope per structure (one-component map with a zero axis, NaNs, strings) and per atom
    for per_atom in (False, True):
        sel = atom_rows if per_atom else rows
        coords = _coords(len(sel), one_component=not per_atom)
        data = to_chemiscope(ds, sel, map_coordinates=coords, properties={"cluster": extra["cluster"][: len(sel)]} if not per_atom else None,
                             environments=3.0 if per_atom else None, color="PC1")
        doc = _chemiscope_loads(data)
        assert b"NaN" not in data.replace(b"\\u004eaN", b"")  # strict JSON: no bare NaN anywhere
        normalised = _create_input(doc)
        assert len(normalised["structures"]) == len(doc["structures"])
        back = read_dataset(data, name="back.json")
        np.testing.assert_allclose(
            (back.atom_properties if per_atom else back.structure_properties)["PC2"].to_numpy()[
                (back.atom_offsets[back.environments["structure"]] + back.environments["center"]).to_numpy() if per_atom else slice(None)],
            coords["PC2"], equal_nan=True)
        for a, i in zip(back.structures, sources if per_atom else rows):
            np.testing.assert_array_equal(a.pbc, ds.structures[i].pbc)


def test_chemiscope_round_trip_keeps_meta_units_settings_parameters_and_shapes():
    doc = json.loads((DATA / "CSD-1000R.chemiscope.json").read_text())
    doc["meta"].update(description="NMR shieldings", authors=["A. Author"], references=["a paper"])
    doc["properties"]["ENERGY"]["units"] = "eV"
    doc["properties"]["ENERGY"]["description"] = "DFT energy"
    doc["settings"] = {"map": {"x": {"property": "PCA_1"}, "palette": "magma", "joinPoints": False},
                       "structure": [{"bonds": False, "color": {"property": "CS_local"}}], "target": "atom"}
    sizes = [s["size"] for s in doc["structures"]]
    doc["shapes"] = {"dots": {"kind": "sphere", "parameters": {"global": {"radius": 0.2},
                                                               "structure": [{"radius": 0.1 * (k + 1)} for k in range(len(sizes))]}}}
    ds = read_dataset(json.dumps(doc).encode(), name="csd.json")
    assert ds.metadata["meta"]["authors"] == ["A. Author"] and ds.metadata["units"]["ENERGY"] == "eV"
    out = _chemiscope_loads(to_chemiscope(ds, [3, 1], map_coordinates={"a": [0.0, 1.0], "b": [1.0, 0.0]}))
    assert out["meta"]["authors"] == ["A. Author"] and out["meta"]["references"] == ["a paper"]
    assert out["properties"]["ENERGY"]["units"] == "eV" and out["properties"]["ENERGY"]["description"] == "DFT energy"
    assert out["settings"]["map"]["palette"] == "magma"
    assert out["shapes"]["dots"]["parameters"]["structure"] == [{"radius": 0.4}, {"radius": 0.2}]
    # per-atom properties travel in per-structure mode, for every atom of the selected structures
    assert out["properties"]["CS_local"]["target"] == "atom"
    assert len(out["properties"]["CS_local"]["values"]) == sizes[3] + sizes[1]
    _create_input(out)


def test_structure_and_atom_property_of_the_same_name():
    text = ("2\nenergy=1.0 pbc=\"F F F\" Properties=species:S:1:pos:R:3:q:R:1\nH 0 0 0 0.5\nH 0 0 0.7 0.25\n")
    ds = read_dataset(text.encode(), name="clash.xyz")
    ds.atom_properties = ds.atom_properties.rename(columns={"q": "energy"})  # as a chemiscope file or a DB can hold
    assert "energy" in ds.structure_properties and "energy" in ds.atom_properties
    doc = _chemiscope_loads(to_chemiscope(ds, [0, 1], map_coordinates={"a": [0.0, 1.0], "b": [1.0, 0.0]},
                                          environments=2.0, color="energy"))
    assert doc["properties"]["energy"]["target"] == "atom"
    assert doc["properties"]["energy (structure)"]["values"] == [1.0]
    _create_input(doc)


def test_molecules_in_a_box_written_by_chemiscope_read_back_non_periodic():
    chemiscope = pytest.importorskip("chemiscope")
    frames = ase.io.read(DATA / "small_molecules-1000.xyz", index=":5")
    assert not frames[0].pbc.any() and frames[0].cell.rank == 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        doc = chemiscope.create_input(structures=frames, properties={"e": np.arange(5.0)})
    assert "cell" in doc["structures"][0]  # chemiscope writes the box
    back = read_dataset(json.dumps(doc).encode(), name="molecules.json")
    assert back.periodic == "non-periodic"
    crystals = read_dataset(DATA / "CSD-1000R.chemiscope.json")
    assert crystals.periodic == "periodic"


def test_properties_only_and_external_structures_files():
    doc = {"meta": {"name": "table"}, "structures": [],
           "properties": {"x": {"target": "structure", "values": [1.0, 2.0, 3.0]},
                          "y": {"target": "structure", "values": [0.5, "***NaN***", 1.5]},
                          "label": {"target": "structure", "values": ["a", "b", "c"]}}}
    ds = read_dataset(json.dumps(doc).encode(), name="table.json")
    assert ds.structures is None and ds.feature_names == ["x"]
    assert np.isnan(ds.structure_properties["y"][1]) and ds.structure_properties["label"].tolist() == ["a", "b", "c"]
    doc["structures"] = [{"size": 3, "data": "s-0.json"}, {"size": 2, "data": "s-1.json"}, {"size": 1, "data": "s-2.json"}]
    doc["properties"]["q"] = {"target": "atom", "values": [0.0] * 6}
    ds = read_dataset(json.dumps(doc).encode(), name="external.json")
    assert ds.structures is None and ds.n_structures == 3
    assert "external files" in ds.skipped_properties["structures"] and "q" in ds.skipped_properties


def test_extxyz_partial_arrays_long_text_json_values():
    qm9 = read_dataset(DATA / "explore_qm9.xyz")
    assert "frequencies" in qm9.metadata["values"]
    frames = ase.io.read(io.StringIO(to_extxyz(qm9, [0, 2]).decode()), index=":", format="extxyz")
    original = ase.io.read(DATA / "explore_qm9.xyz", index=":")
    np.testing.assert_allclose(frames[1].info["frequencies"], original[2].info["frequencies"])
    alpha = read_dataset(DATA / "alpha-mu.xyz")
    frames = ase.io.read(io.StringIO(to_extxyz(alpha, [0, 1]).decode()), index=":", format="extxyz")
    assert frames[0].info["Comments"] == ase.io.read(DATA / "alpha-mu.xyz", index=0).info["Comments"]
    text = ("1\nProperties=species:S:1:pos:R:3:initial_magmoms:R:1\nFe 0 0 0 2.0\n"
            "2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0 0 0.7\n")
    ds = read_dataset(text.encode(), name="magmoms.xyz")
    frames = ase.io.read(io.StringIO(to_extxyz(ds, [0, 1]).decode()), index=":", format="extxyz")
    assert frames[0].get_initial_magnetic_moments().tolist() == [2.0]
    assert "initial_magmoms" not in frames[1].arrays


# --------------------------------------------------------------------------------------------
# metatensor TensorMap from our NPZ layout, against featomic's own
# --------------------------------------------------------------------------------------------

#: small hyperparameters: the layout is what is tested, and featomic's blocks stay many
TM_HYPERS = dict(cutoff=3.5, n_max=4, l_max=3, density_width=0.3, smoothing_width=0.5)
#: files with 1 to 13 elements, periodic and not (methane dimers: 10 frames of 100)
TM_FILES = ["explore_qm9.xyz", "explore_c-gap-20u.xyz", "explore_mc3d.xyz", "methane_dimer_sample.xyz", "showcase.xyz"]
#: our SOAP (splined radial integrals) against featomic's, relative to each block's largest value
SOAP_AGREEMENT = 2e-7


def _featurized(tmp_path, filename, per, spectrum="power"):
    """(structures, arrays of the NPZ written by ``structure-explorer featurize``, loaded without pickle)."""
    from compute.featurize import featurize

    source = DATA / filename
    if filename == "methane_dimer_sample.xyz":
        source = tmp_path / filename
        ase.io.write(source, ase.io.read(DATA / filename, ":10"), format="extxyz")
    out = tmp_path / f"features-{per}-{spectrum}.npz"
    featurize(source, out, per=per, spectrum=spectrum, backend="numba", progress=False, **TM_HYPERS)
    with np.load(out, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    return read_dataset(source).structures, arrays, out


def _featomic(frames, spectrum="power"):
    featomic = pytest.importorskip("featomic")
    hypers = dict(
        cutoff={"radius": TM_HYPERS["cutoff"], "smoothing": {"type": "ShiftedCosine", "width": TM_HYPERS["smoothing_width"]}},
        density={"type": "Gaussian", "width": TM_HYPERS["density_width"], "center_atom_weight": 1.0},
    )
    radial = {"type": "Gto", "max_radial": TM_HYPERS["n_max"] - 1}
    if spectrum == "radial":
        return featomic.SoapRadialSpectrum(**hypers, basis={"radial": radial}).compute(frames)
    return featomic.SoapPowerSpectrum(**hypers, basis={"type": "TensorProduct", "max_angular": TM_HYPERS["l_max"],
                                                       "radial": radial}).compute(frames)


def _assert_same_map(ours, reference, rtol):
    """Same keys, and per block the same samples, components and properties (names, values, order);
    values equal to ``rtol`` times the block's largest value."""
    assert ours.keys.names == reference.keys.names
    assert ours.keys.values.tolist() == reference.keys.values.tolist()
    for key, expected in reference.items():
        block = ours.block(key)
        assert block.samples.names == expected.samples.names
        assert block.samples.values.tolist() == expected.samples.values.tolist(), key
        assert block.properties.names == expected.properties.names
        assert block.properties.values.tolist() == expected.properties.values.tolist()
        assert block.components == expected.components == []
        scale = np.abs(expected.values).max()
        np.testing.assert_allclose(block.values, expected.values, rtol=0, atol=rtol * scale, err_msg=str(key))


@pytest.mark.parametrize("filename", TM_FILES)
def test_tensormap_per_atom_and_per_structure_equal_featomic(tmp_path, filename):
    """featurize's NPZ (per atom) -> TensorMap: featomic's keys, samples and properties exactly,
    values to our SOAP's agreement with featomic; per structure, featomic's means over the atoms
    of each block (``mean_over_samples(..., "atom")``)."""
    metatensor = pytest.importorskip("metatensor")
    from compute.export import to_tensormap

    frames, arrays, path = _featurized(tmp_path, filename, "atom")
    reference = _featomic(frames)
    _assert_same_map(to_tensormap(arrays), reference, SOAP_AGREEMENT)
    # the NPZ's bytes and path give the same map
    assert metatensor.equal(to_tensormap(path.read_bytes()), to_tensormap(str(path)))
    _assert_same_map(to_tensormap(path, per="structure"), metatensor.mean_over_samples(reference, sample_names=["atom"]),
                     SOAP_AGREEMENT)


@pytest.mark.parametrize("filename", ["explore_mc3d.xyz", "methane_dimer_sample.xyz"])
def test_tensormap_conversion_is_exact_on_featomic_values(tmp_path, filename):
    """featomic's own values written into our dense layout come back as featomic's TensorMap to
    1e-8 relative (exactly, in fact): the conversion adds nothing to the descriptor's error."""
    metatensor = pytest.importorskip("metatensor")
    from compute.export import to_tensormap

    frames, arrays, _ = _featurized(tmp_path, filename, "atom")
    reference = _featomic(frames)
    dense = np.zeros_like(arrays["features"])
    row = {(s, a): r for r, (s, a) in enumerate(zip(arrays["structure"].tolist(), arrays["atom"].tolist()))}
    labels = arrays["feature_labels"]
    for key, block in reference.items():
        _, a, b = key.values.tolist()
        columns = np.flatnonzero((labels[:, 0] == a) & (labels[:, 1] == b))
        assert labels[columns, 2:].tolist() == block.properties.values.tolist()
        dense[np.ix_([row[tuple(s)] for s in block.samples.values.tolist()], columns)] = block.values
    arrays["features"] = dense
    ours = to_tensormap(arrays)
    _assert_same_map(ours, reference, 0.0)
    assert metatensor.equal(ours, reference)
    means = metatensor.mean_over_samples(reference, sample_names=["atom"])
    assert metatensor.allclose(to_tensormap(arrays, per="structure"), means, rtol=1e-8, atol=0)


@pytest.mark.parametrize("filename", ["explore_qm9.xyz", "explore_c-gap-20u.xyz"])
def test_tensormap_from_rows_per_structure(tmp_path, filename):
    """Rows per structure are means over all atoms of every type: one block, equal to featomic's
    map with every neighbour pair and the centre type moved out of the keys, averaged."""
    metatensor = pytest.importorskip("metatensor")
    from compute.export import to_tensormap

    frames, arrays, path = _featurized(tmp_path, filename, "structure")
    reference = _featomic(frames)
    pairs = np.unique(arrays["feature_labels"][:, :2], axis=0).astype(np.int32)
    reference = reference.keys_to_properties(metatensor.Labels(["neighbor_1_type", "neighbor_2_type"], pairs))
    reference = metatensor.mean_over_samples(reference.keys_to_samples("center_type"), sample_names=["atom", "center_type"])
    ours = to_tensormap(path)
    _assert_same_map(ours, reference, SOAP_AGREEMENT)
    assert ours.keys.names == ["_"]
    with pytest.raises(ValueError, match="per structure"):
        to_tensormap(path, per="atom")


def test_tensormap_radial_spectrum_equals_featomic(tmp_path):
    pytest.importorskip("metatensor")
    from compute.export import to_tensormap

    frames, arrays, _ = _featurized(tmp_path, "explore_mc3d.xyz", "atom", spectrum="radial")
    _assert_same_map(to_tensormap(arrays), _featomic(frames, "radial"), SOAP_AGREEMENT)


def test_tensormap_refuses_what_it_cannot_convert(tmp_path, monkeypatch):
    import sys

    pytest.importorskip("metatensor")
    from compute.export import to_npz, to_tensormap

    _, arrays, _ = _featurized(tmp_path, "explore_qm9.xyz", "atom")
    # a selection of feature columns (the app's FPS/CUR export) is not a whole spectrum
    columns = to_npz(arrays["features"][:, :7], arrays["feature_names"][:7].tolist(), np.arange(len(arrays["features"])),
                     extra={"structure": arrays["structure"]})
    with pytest.raises(ValueError, match="feature_labels"):
        to_tensormap(columns)
    with pytest.raises(ValueError, match="center_type"):
        to_tensormap({k: v for k, v in arrays.items() if k != "center_type"})
    bad = dict(arrays, feature_labels=arrays["feature_labels"][:-1])
    with pytest.raises(ValueError, match="one row of 5 integers"):
        to_tensormap(bad)
    monkeypatch.setitem(sys.modules, "metatensor", None)
    with pytest.raises(ImportError, match="pip install metatensor"):
        to_tensormap(arrays)


# --------------------------------------------------------------------------------------------
# ASE database export
# --------------------------------------------------------------------------------------------


def _ase_db_rows(data: bytes, tmp_path) -> list:
    import ase.db

    path = tmp_path / "export.db"
    path.write_bytes(data)
    with ase.db.connect(str(path), type="db") as db:
        rows = list(db.select())
        metadata = db.metadata
    return rows, metadata


@pytest.mark.parametrize("filename", FILES)
def test_every_file_exports_to_an_ase_database(filename, tmp_path):
    """Every file, every structure: ase.db reads the structures, the calculator results and the
    key-value pairs; read_dataset reads back the same structures, property tables (names, values,
    missing values), values without a column and metadata."""
    ds = _dataset(filename)
    rows = np.arange(ds.n_structures)
    data = to_ase_db(ds, rows)
    assert data.startswith(b"SQLite format 3\x00")

    db_rows, metadata = _ase_db_rows(data, tmp_path)
    assert len(db_rows) == ds.n_structures
    table = ds.structure_properties
    for i, row in enumerate(db_rows):
        atoms = row.toatoms()
        np.testing.assert_array_equal(atoms.numbers, ds.structures[i].numbers)
        np.testing.assert_array_equal(atoms.positions, ds.structures[i].positions)
        np.testing.assert_array_equal(atoms.pbc, ds.structures[i].pbc)
        assert row.key_value_pairs["source_index"] == i  # where the structure came from
        for key, value in row.key_value_pairs.items():  # the other pairs hold the table's values as they are
            if key == "source_index":
                continue
            expected = table[key].iloc[i]
            assert (value == expected) if isinstance(value, str) else value == pytest.approx(float(expected), rel=0, abs=0), key
        if "energy" in table and np.isfinite(table["energy"].iloc[i]):
            assert row.energy == table["energy"].iloc[i]
    if ds.metadata.get("meta"):
        assert metadata["structure_explorer"]["meta"] == ds.metadata["meta"]

    back = read_dataset(data, name="export.db")
    assert back.format == "db"
    for a, b in zip(ds.structures, back.structures):
        np.testing.assert_array_equal(b.numbers, a.numbers)
        np.testing.assert_array_equal(b.positions, a.positions)
        np.testing.assert_array_equal(np.asarray(b.cell), np.asarray(a.cell))
        np.testing.assert_array_equal(b.pbc, a.pbc)
    assert back.structure_properties["source_index"].tolist() == rows.tolist()  # where each structure came from
    for expected, actual in ((ds.structure_properties, back.structure_properties.drop(columns="source_index")),
                             (ds.atom_properties, back.atom_properties)):
        assert sorted(actual.columns) == sorted(expected.columns)
        for c in expected.columns:
            x, y = expected[c], actual[c]
            if pd.api.types.is_numeric_dtype(x) and not pd.api.types.is_bool_dtype(x):
                assert pd.api.types.is_integer_dtype(y) == pd.api.types.is_integer_dtype(x), c
                np.testing.assert_array_equal(y.to_numpy(float, na_value=np.nan), x.to_numpy(float, na_value=np.nan), err_msg=c)
            else:
                assert y.astype(object).where(y.notna(), None).tolist() == x.astype(object).where(x.notna(), None).tolist(), c
    assert back.skipped_properties.keys() == ds.skipped_properties.keys()
    assert back.metadata.get("values") == ds.metadata.get("values")
    assert back.metadata.get("meta") == ds.metadata.get("meta")
