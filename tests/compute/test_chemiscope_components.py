"""Multi-component chemiscope properties (issue 10): vectors stored as ``name[1]``, ``name[2]``, ...
(what ``chemiscope.write_input`` makes of an ``(n, k)`` array) and multidimensional properties
(array values with ``parameters``) read in the layout of the other readers (``name[j]`` columns,
as a vector of an extended XYZ file), and written back without loss, per structure and per atom,
checked with our reader and with chemiscope's own Python package (``create_input``,
``show_input`` + ``save``)."""

from __future__ import annotations

import io
import json
import tempfile
import warnings
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest
from ase.build import molecule

from compute.datasets import read_dataset
from compute.export import to_chemiscope, to_extxyz

chemiscope = pytest.importorskip("chemiscope")

DATA = Path("/work/shared/data")
if not DATA.is_dir():
    DATA = Path(__file__).resolve().parents[1] / "data"


def _frames() -> list:
    frames = [molecule("H2O"), molecule("NH3"), molecule("CH4"), molecule("CO2")]
    for k, atoms in enumerate(frames):
        atoms.positions += 0.1 * k
    return frames


def _written_by_chemiscope(tmp_path) -> tuple[Path, dict]:
    """A file of chemiscope.write_input: vectors per structure and per atom, multidimensional
    properties (4 and 40 components) with their parameters, missing values."""
    frames = _frames()
    n, n_atoms = len(frames), sum(len(a) for a in frames)
    rng = np.random.default_rng(0)
    dipole = rng.normal(size=(n, 3))
    forces = rng.normal(size=(n_atoms, 3))
    forces[2, 1] = np.nan
    values = {
        "dipole": dipole,
        "forces": forces,
        "dos": rng.normal(size=(n, 4)),
        "wide": rng.normal(size=(n, 40)),
        "pdos": rng.normal(size=(n_atoms, 4)),
        "energy": rng.normal(size=n),
    }
    properties = {
        "dipole": {"target": "structure", "values": dipole, "units": "D", "description": "molecular dipole"},
        "forces": {"target": "atom", "values": forces, "units": "eV/Å"},
        "dos": {"target": "structure", "values": values["dos"], "parameters": ["energy grid"], "units": "1/eV",
                "description": "density of states"},
        "wide": {"target": "structure", "values": values["wide"], "parameters": ["long grid"]},
        "pdos": {"target": "atom", "values": values["pdos"], "parameters": ["energy grid"]},
        "energy": {"target": "structure", "values": values["energy"], "units": "eV"},
    }
    parameters = {"energy grid": {"values": np.linspace(-1, 1, 4), "units": "eV", "name": "E"},
                  "long grid": {"values": np.arange(40.0)}}
    path = tmp_path / "vectors.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chemiscope.write_input(str(path), structures=frames, properties=properties, parameters=parameters)
    return path, values


def _validate_with_chemiscope(data: bytes) -> dict:
    """chemiscope's own Python: create_input accepts the file's content, and show_input reads the
    file, whose widget saves it again (returned, as chemiscope wrote it)."""
    doc = json.loads(data)
    environments = [(e["structure"], e["center"], e["cutoff"]) for e in doc["environments"]] if "environments" in doc else None
    parameters = {k: {**v, "values": np.asarray(v["values"])} for k, v in (doc.get("parameters") or {}).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chemiscope.create_input(structures=doc["structures"], metadata=doc["meta"], properties=doc["properties"],
                                environments=environments, settings=doc["settings"], parameters=parameters or None)
    widget = chemiscope.show_input(io.StringIO(data.decode()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "saved.json"
        widget.save(str(path))
        return json.loads(path.read_bytes())


def _assert_same_columns(a: pd.DataFrame, b: pd.DataFrame, rows_a=None) -> None:
    a = a if rows_a is None else a.iloc[rows_a].reset_index(drop=True)
    for column in b.columns:
        if column in ("structure", "atom"):
            continue
        np.testing.assert_allclose(a[column].to_numpy(dtype=float), b[column].to_numpy(dtype=float), equal_nan=True, err_msg=column)


def test_vectors_are_read_in_the_layout_of_the_other_readers(tmp_path):
    """A vector per structure and per atom: ``name[1..3]`` columns, as the extended XYZ reader
    gives the same vectors; a multidimensional property the same way, with its units and
    descriptions on every column (as chemiscope.write_input gives them to the columns of an
    (n, k) array)."""
    path, values = _written_by_chemiscope(tmp_path)
    ds = read_dataset(path)
    s, a = ds.structure_properties, ds.atom_properties
    assert [c for c in s.columns if c.startswith("dipole")] == ["dipole[1]", "dipole[2]", "dipole[3]"]
    np.testing.assert_allclose(s[["dipole[1]", "dipole[2]", "dipole[3]"]].to_numpy(), values["dipole"])
    np.testing.assert_allclose(a[["forces[1]", "forces[2]", "forces[3]"]].to_numpy(), values["forces"], equal_nan=True)
    np.testing.assert_allclose(s[[f"dos[{j}]" for j in range(1, 5)]].to_numpy(), values["dos"])
    np.testing.assert_allclose(a[[f"pdos[{j}]" for j in range(1, 5)]].to_numpy(), values["pdos"])
    units, descriptions = ds.metadata["units"], ds.metadata["descriptions"]
    assert units["dipole[2]"] == "D" and units["dos[3]"] == "1/eV" and units["dos"] == "1/eV"
    assert descriptions["dos[3]"] == "density of states [component 3]" and descriptions["dos"] == "density of states"
    assert ds.metadata["property_parameters"] == {"dos": ["energy grid"], "wide": ["long grid"], "pdos": ["energy grid"]}
    # more components than a table takes: not a column, kept whole for an export
    assert "wide" in ds.skipped_properties and not any(c.startswith("wide") for c in s.columns)
    np.testing.assert_allclose(np.array(ds.metadata["values"]["wide"]), values["wide"])

    # the extended XYZ reader: the same vectors under the same column names
    frames = _frames()
    offsets = ds.atom_offsets
    for k, atoms in enumerate(frames):
        atoms.info["dipole"] = values["dipole"][k]
        atoms.arrays["forces"] = values["forces"][offsets[k]:offsets[k + 1]]
    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    xyz = read_dataset(buffer.getvalue().encode(), name="same.xyz")
    assert [c for c in xyz.structure_properties.columns if c.startswith("dipole")] == ["dipole[1]", "dipole[2]", "dipole[3]"]
    assert [c for c in xyz.atom_properties.columns if c.startswith("forces")] == ["forces[1]", "forces[2]", "forces[3]"]
    _assert_same_columns(s, xyz.structure_properties[["dipole[1]", "dipole[2]", "dipole[3]"]])
    np.testing.assert_allclose(xyz.atom_properties[["forces[1]", "forces[2]", "forces[3]"]].to_numpy(),
                               values["forces"], equal_nan=True, atol=1e-7)


@pytest.mark.parametrize("per", ["structure", "atom"])
def test_chemiscope_round_trip_of_vectors_and_multidimensional_properties(tmp_path, per):
    """read -> to_chemiscope -> read: the same columns, values, units and descriptions; the
    multidimensional properties written back as such (array values with their parameters, also
    the one of 40 components), which chemiscope's own Python reads and saves again; reading its
    save gives the same dataset."""
    path, values = _written_by_chemiscope(tmp_path)
    ds = read_dataset(path)
    if per == "structure":
        rows = np.array([2, 0, 3])
        coords = {"PC1": np.arange(3.0), "PC2": np.ones(3)}
        data = to_chemiscope(ds, rows, map_coordinates=coords, color="energy")
    else:
        rows = np.array([0, 4, 5, 9, 12])
        coords = {"PC1": np.arange(5.0), "PC2": np.ones(5)}
        data = to_chemiscope(ds, rows, map_coordinates=coords, environments=3.0, color="energy")
    doc = json.loads(data)
    props = doc["properties"]
    assert props["dos"]["parameters"] == ["energy grid"] and props["dos"]["units"] == "1/eV"
    assert props["dos"]["description"] == "density of states" and np.shape(props["dos"]["values"]) == (len(doc["structures"]), 4)
    assert props["wide"]["parameters"] == ["long grid"] and np.shape(props["wide"]["values"]) == (len(doc["structures"]), 40)
    assert props["pdos"]["parameters"] == ["energy grid"] and np.shape(props["pdos"]["values"])[1] == 4
    assert not any(k.startswith(("dos[", "pdos[", "wide[")) for k in props)
    assert doc["parameters"]["energy grid"]["units"] == "eV"
    assert props["dipole[1]"]["units"] == "D"

    back = read_dataset(data, name="back.json")
    if per == "structure":
        structures = rows
        atom_rows = np.concatenate([np.arange(ds.atom_offsets[i], ds.atom_offsets[i + 1]) for i in rows])
    else:
        structures = np.unique(ds.atom_properties["structure"].to_numpy()[rows])
        atom_rows = np.concatenate([np.arange(ds.atom_offsets[i], ds.atom_offsets[i + 1]) for i in structures])
    source_s = ds.structure_properties.drop(columns=[]).iloc[structures].reset_index(drop=True)
    _assert_same_columns(source_s, back.structure_properties[[c for c in source_s.columns]])
    np.testing.assert_allclose(np.array(back.metadata["values"]["wide"]), values["wide"][structures])
    source_a = ds.atom_properties.iloc[atom_rows].reset_index(drop=True)
    got_a = back.atom_properties
    if per == "atom":  # per environment: the selected atoms only (the others are not written)
        selected = np.searchsorted(atom_rows, rows)
        source_a, got_a = source_a.iloc[selected].reset_index(drop=True), got_a.iloc[
            (back.atom_offsets[back.environments["structure"]] + back.environments["center"]).to_numpy()].reset_index(drop=True)
    _assert_same_columns(source_a, got_a[[c for c in source_a.columns if c not in ("structure", "atom")]])
    for key in ("units", "descriptions", "property_parameters", "parameters"):
        original, again = ds.metadata[key], back.metadata[key]
        assert {k: v for k, v in again.items() if k in original} == original, key

    # chemiscope's own Python reads our file and saves it; we read its save
    saved = _validate_with_chemiscope(data)
    assert saved["properties"]["dos"]["parameters"] == ["energy grid"]
    resaved = read_dataset(json.dumps(saved).encode(), name="saved.json")
    for a, b in ((back.structure_properties, resaved.structure_properties), (back.atom_properties, resaved.atom_properties)):
        assert list(a.columns) == list(b.columns)
        _assert_same_columns(a, b)
    assert resaved.metadata["property_parameters"] == back.metadata["property_parameters"]


def test_split_vectors_round_trip_and_extended_xyz_vectors_to_chemiscope(tmp_path):
    """Vectors of an extended XYZ file go to chemiscope as ``name[1..3]`` (chemiscope's own
    names for an (n, 3) array) and come back as the same columns; the CSD file too, per
    structure and per atom."""
    frames = _frames()
    rng = np.random.default_rng(1)
    for atoms in frames:
        atoms.info["dipole"] = rng.normal(size=3)
        atoms.arrays["forces"] = rng.normal(size=(len(atoms), 3))
    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    ds = read_dataset(buffer.getvalue().encode(), name="vectors.xyz")
    for env in (None, 3.0):
        n = ds.n_structures if env is None else ds.n_atoms
        data = to_chemiscope(ds, None, map_coordinates={"a": np.arange(float(n)), "b": np.zeros(n)}, environments=env)
        props = json.loads(data)["properties"]
        assert {"dipole[1]", "dipole[2]", "dipole[3]", "forces[1]", "forces[2]", "forces[3]"} <= set(props)
        back = read_dataset(data, name="back.json")
        _assert_same_columns(back.structure_properties, ds.structure_properties)
        got = back.atom_properties
        if env is not None:
            got = got.iloc[(back.atom_offsets[back.environments["structure"]] + back.environments["center"]).to_numpy()]
        _assert_same_columns(got.reset_index(drop=True), ds.atom_properties)
        _validate_with_chemiscope(data)
    # and back to extended XYZ: the vectors again, under their own names
    again = read_dataset(to_extxyz(back, np.arange(back.n_structures)), name="again.xyz")
    _assert_same_columns(again.structure_properties, ds.structure_properties[["dipole[1]", "dipole[2]", "dipole[3]"]])

    csd = read_dataset(DATA / "CSD-1000R.chemiscope.json")
    for env, n in ((None, 3), (3.5, 6)):
        rows = np.arange(n) * (1 if env is None else 7)
        data = to_chemiscope(csd, rows, map_coordinates={"a": np.arange(float(n)), "b": np.zeros(n)}, environments=env)
        back = read_dataset(data, name="csd-back.json")
        structures = rows if env is None else np.unique(csd.atom_properties["structure"].to_numpy()[rows])
        _assert_same_columns(csd.structure_properties.iloc[structures].reset_index(drop=True).select_dtypes("number"),
                             back.structure_properties[list(csd.structure_properties.select_dtypes("number").columns)])
        assert back.metadata["meta"]["name"] == csd.metadata["meta"]["name"]
        _validate_with_chemiscope(data)
