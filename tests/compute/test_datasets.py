"""compute.datasets on real files in real formats (no mocks)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import ase.io
import numpy as np
import pandas as pd
import pytest
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator

from compute.datasets import FORMATS, Dataset, DatasetError, detect_format, read_dataset

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
BAD = DATA / "bad"
SAMPLE = ROOT / "sample_datasets" / "small_molecules-1000.xyz"


# ------------------------------------------------------------------------------------------
# every real file reads with the expected counts
# ------------------------------------------------------------------------------------------

COUNTS = {
    SAMPLE: (985, 17_743),
    DATA / "methane_dimer_sample.xyz": (100, 1000),
    DATA / "CSD-1000R.chemiscope.json": (10, 1362),
    DATA / "explore_qm9.xyz": (5, 19),  # CH4, NH3, H2O, C2H2, HCN
    DATA / "explore_c-gap-20u.xyz": (5, 243),
    DATA / "explore_mc3d.xyz": (5, 100),
    DATA / "showcase.xyz": (29, 558),
    DATA / "trajectory.xyz": (20, 200),
    DATA / "alpha-mu.xyz": (2, 40),
}


def test_every_data_file_is_covered():
    files = {p for p in DATA.iterdir() if p.is_file() and p.suffix != ".md"}
    assert files == {p for p in COUNTS if p.parent == DATA}


@pytest.mark.parametrize("path", list(COUNTS), ids=lambda p: p.name)
def test_real_files_read_with_expected_counts(path):
    ds = read_dataset(path)
    n_structures, n_atoms = COUNTS[path]
    assert isinstance(ds, Dataset)
    assert ds.name == path.name
    assert ds.n_structures == n_structures == len(ds.structures)
    assert ds.n_atoms == n_atoms
    assert len(ds.structure_properties) == n_structures
    assert len(ds.atom_properties) == n_atoms
    assert list(ds.atom_properties.columns[:2]) == ["structure", "atom"]
    # rows ordered by (structure, atom)
    counts = [len(a) for a in ds.structures]
    np.testing.assert_array_equal(ds.atom_properties["structure"], np.repeat(np.arange(n_structures), counts))
    np.testing.assert_array_equal(ds.atom_properties["atom"], np.concatenate([np.arange(c) for c in counts]))
    assert ds.content_hash == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    # plain structures: no calculator, no info, only numbers and positions arrays
    for atoms in ds.structures:
        assert atoms.calc is None and atoms.info == {}
        assert set(atoms.arrays) == {"numbers", "positions"}
    summary = ds.summary()
    json.dumps(summary)  # serialisable for the app
    assert summary["n_structures"] == n_structures and summary["n_atoms"] == n_atoms


def test_sample_dataset_properties():
    ds = read_dataset(SAMPLE)
    energy = ds.structure_properties["dft_formation_energy_per_atom_in_eV"]
    assert energy.dtype == float and energy.notna().all()
    assert ds.elements == ["C", "H", "N", "O"]
    assert ds.periodic == "non-periodic"  # a 14 Å box with pbc="F F F"
    first = ase.io.read(SAMPLE, index=0)
    np.testing.assert_allclose(ds.structures[0].positions, first.positions)
    np.testing.assert_array_equal(ds.structures[0].numbers, first.numbers)


# ------------------------------------------------------------------------------------------
# the awkward files, in detail
# ------------------------------------------------------------------------------------------


def test_qm9_json_list_kept_out_strings_categorical_per_atom_charges():
    ds = read_dataset(DATA / "explore_qm9.xyz")
    props = ds.structure_properties
    assert not any(c.startswith("frequencies") for c in props.columns)
    assert "frequencies" in ds.skipped_properties
    assert isinstance(props["smiles"].dtype, pd.CategoricalDtype)
    assert list(props["smiles"]) == ["C", "N", "O", "C#C", "C#N"]
    assert props["gap"].dtype == float
    np.testing.assert_allclose(props["gap"][0], 13.736307665100584)
    atoms = ds.atom_properties
    assert "partial_charges" in atoms.columns
    np.testing.assert_allclose(atoms["partial_charges"][:2], [-0.535689, 0.133921])
    assert ds.periodic == "non-periodic"


def test_c_gap_calculator_results_split():
    ds = read_dataset(DATA / "explore_c-gap-20u.xyz")
    props = ds.structure_properties
    np.testing.assert_allclose(props["energy"][0], -767.76801887)
    assert [f"stress[{k}]" for k in range(1, 7)] == [c for c in props.columns if c.startswith("stress")]
    np.testing.assert_allclose(props["stress[1]"][0], -0.28982070014736794)  # Voigt xx
    assert [f"virial[{k}]" for k in range(1, 10)] == [c for c in props.columns if c.startswith("virial")]
    assert isinstance(props["config_type"].dtype, pd.CategoricalDtype)
    assert "Amorphous_Bulk" in set(props["config_type"])
    atoms = ds.atom_properties
    assert {"forces[1]", "forces[2]", "forces[3]"} <= set(atoms.columns)
    assert "forces" not in atoms.columns
    np.testing.assert_allclose(atoms.loc[0, ["forces[1]", "forces[2]", "forces[3]"]].to_numpy(float), [4.402487, 1.508985, 0.647872])
    assert ds.periodic == "periodic" and ds.elements == ["C"]


def test_alpha_mu_per_atom_tensor_components_and_long_comment():
    ds = read_dataset(DATA / "alpha-mu.xyz")
    atoms = ds.atom_properties
    assert {"axx", "ayy", "azz", "axy", "axz", "ayz"} <= set(atoms.columns)
    np.testing.assert_allclose(atoms["axx"][0], 8.282953)
    props = ds.structure_properties
    assert "Comments" not in props.columns
    assert "long text" in ds.skipped_properties["Comments"]
    assert [f"dipole_ccsd[{k}]" for k in (1, 2, 3)] == [c for c in props.columns if c.startswith("dipole_ccsd")]
    assert len([c for c in props.columns if c.startswith("ccsd_polarizability[")]) == 6


def test_methane_long_comment_excluded_and_energy_from_calc():
    ds = read_dataset(DATA / "methane_dimer_sample.xyz")
    assert "comment" not in ds.structure_properties.columns
    np.testing.assert_allclose(ds.structure_properties["energy"][0], -0.00961079)
    assert {"force[1]", "force[2]", "force[3]", "resid"} <= set(ds.atom_properties.columns)
    assert ds.atom_properties["resid"].dtype == np.int64


def test_chemiscope_json_properties_and_environments():
    path = DATA / "CSD-1000R.chemiscope.json"
    ds = read_dataset(path)
    raw = json.loads(path.read_text())
    assert ds.format == "chemiscope" and ds.periodic == "periodic"
    props = ds.structure_properties
    np.testing.assert_allclose(props["ENERGY"], raw["properties"]["ENERGY"]["values"])
    assert isinstance(props["NAME"].dtype, pd.CategoricalDtype)
    assert props["NAME"][0] == "IQIZEO"
    atoms = ds.atom_properties
    for key in ("chemical_shieldings", "CS_local", "PCA_1"):
        np.testing.assert_allclose(atoms[key], raw["properties"][key]["values"])
    env = ds.environments
    assert list(env.columns) == ["structure", "center", "cutoff"]
    assert len(env) == 1362 and (env["cutoff"] == 3.5).all()
    s0 = raw["structures"][0]
    np.testing.assert_allclose(ds.structures[0].positions[:, 0], s0["x"])
    np.testing.assert_allclose(np.asarray(ds.structures[0].cell).ravel(), s0["cell"])
    assert ds.structures[0].get_chemical_symbols() == s0["names"]


def _chemiscope_doc():
    return {
        "meta": {"name": "tiny"},
        "structures": [
            {"size": 2, "names": ["H", "H"], "x": [0, 0], "y": [0, 0], "z": [0, 0.74]},
            {"size": 3, "names": ["O", "H", "H"], "x": [0, 0.96, -0.24], "y": [0, 0, 0.93], "z": [0, 0, 0]},
        ],
        "properties": {
            "energy": {"target": "structure", "values": [-1.0, -2.0]},
            "label": {"target": "structure", "values": ["a", "b"]},
            # per-atom values stored under target=structure: they go to the atom table
            "charge": {"target": "structure", "values": [0.1, -0.1, -0.8, 0.4, 0.4]},
            "env_prop": {"target": "atom", "values": [1.0, 2.0]},
            "ragged": {"target": "structure", "values": [[1, 2], [1, 2, 3]]},
        },
        "environments": [{"structure": 0, "center": 1, "cutoff": 3.0}, {"structure": 1, "center": 0, "cutoff": 3.0}],
    }


def test_chemiscope_per_atom_values_under_structure_target_and_environments(tmp_path):
    path = tmp_path / "tiny.json.gz"
    path.write_bytes(gzip.compress(json.dumps(_chemiscope_doc()).encode()))
    ds = read_dataset(path)
    assert ds.periodic == "non-periodic"
    assert list(ds.structure_properties.columns) == ["energy", "label"]
    np.testing.assert_allclose(ds.atom_properties["charge"], [0.1, -0.1, -0.8, 0.4, 0.4])
    # environment properties land on the environments' atoms, NaN elsewhere
    np.testing.assert_allclose(ds.atom_properties["env_prop"], [np.nan, 1.0, 2.0, np.nan, np.nan])
    assert "ragged" in ds.skipped_properties


# ------------------------------------------------------------------------------------------
# properties: missing values, categoricals, split vectors
# ------------------------------------------------------------------------------------------


def test_missing_property_is_nan_never_dropped(tmp_path):
    a = molecule("H2O")
    a.info.update(energy_dft=1.5, kind="water", dipole=np.array([0.1, 0.2, 0.3]))
    a.arrays["charges_in"] = np.array([-0.8, 0.4, 0.4])
    b = molecule("CH4")
    b.info.update(kind="methane")
    c = molecule("NH3")
    path = tmp_path / "mixed.extxyz"
    ase.io.write(path, [a, b, c], format="extxyz")
    ds = read_dataset(path)
    props = ds.structure_properties
    assert ds.n_structures == 3
    np.testing.assert_allclose(props["energy_dft"], [1.5, np.nan, np.nan])
    assert list(props["kind"][:2]) == ["water", "methane"] and props["kind"].isna()[2]
    np.testing.assert_allclose(props["dipole[2]"], [0.2, np.nan, np.nan])
    charges = ds.atom_properties["charges_in"].to_numpy()
    np.testing.assert_allclose(charges[:3], [-0.8, 0.4, 0.4])
    assert np.isnan(charges[3:]).all() and len(charges) == 3 + 5 + 4


# ------------------------------------------------------------------------------------------
# other formats written by ASE, bytes + name, format override
# ------------------------------------------------------------------------------------------


def _crystals():
    frames = []
    for i, (sym, a) in enumerate((("Cu", 3.6), ("Al", 4.05))):
        atoms = bulk(sym, "fcc", a=a, cubic=True)
        atoms.rattle(0.01, seed=i)
        forces = np.full((len(atoms), 3), 0.1 * (i + 1))
        atoms.calc = SinglePointCalculator(atoms, energy=-3.0 - i, forces=forces, stress=np.arange(6.0))
        frames.append(atoms)
    return frames


@pytest.mark.parametrize(
    "filename, ase_format",
    [("crystals.cif", "cif"), ("POSCAR", "vasp"), ("CONTCAR_final", "vasp"), ("x.vasp", "vasp"), ("crystals.traj", "traj"), ("crystals.db", "db")],
)
def test_round_trip_through_ase_formats(tmp_path, filename, ase_format):
    frames = _crystals()
    if ase_format == "vasp":
        frames = frames[:1]  # POSCAR holds one structure
    path = tmp_path / filename
    ase.io.write(path, frames, format=ase_format)
    ds = read_dataset(path)
    assert ds.n_structures == len(frames)
    for got, want in zip(ds.structures, frames):
        np.testing.assert_allclose(got.cell, want.cell, atol=1e-6)
        np.testing.assert_allclose(got.get_scaled_positions() % 1.0, want.get_scaled_positions() % 1.0, atol=1e-6)
        assert sorted(got.numbers) == sorted(want.numbers)
        assert got.pbc.all()
    if ase_format in ("traj", "db"):  # these keep the calculator results
        np.testing.assert_allclose(ds.structure_properties["energy"], [-3.0, -4.0])
        np.testing.assert_allclose(ds.structure_properties["stress[6]"], [5.0, 5.0])
        np.testing.assert_allclose(ds.atom_properties["forces[3]"], [0.1] * 4 + [0.2] * 4)
    # the same bytes under a name: identical result and hash
    from_bytes = read_dataset(path.read_bytes(), name=filename)
    assert from_bytes.content_hash == ds.content_hash and from_bytes.n_atoms == ds.n_atoms


def test_db_key_value_pairs_become_properties(tmp_path):
    import ase.db

    with ase.db.connect(tmp_path / "kv.db") as db:
        db.write(molecule("H2O"), label="water", homo=-7.0)
        db.write(molecule("CH4"), label="methane")
    ds = read_dataset(tmp_path / "kv.db")
    np.testing.assert_allclose(ds.structure_properties["homo"], [-7.0, np.nan])
    assert list(ds.structure_properties["label"]) == ["water", "methane"]


def test_bytes_source_with_name_never_touches_that_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = (DATA / "explore_qm9.xyz").read_bytes()
    ds = read_dataset(data, name="../../etc/explore_qm9.xyz")
    assert ds.name == "explore_qm9.xyz" and ds.n_structures == 5
    assert list(tmp_path.iterdir()) == []


def test_bytes_without_name_or_format():
    with pytest.raises(DatasetError, match="name="):
        read_dataset(b"1\n\nH 0 0 0\n")
    assert read_dataset(b"1\n\nH 0 0 0\n", format="xyz").n_atoms == 1


def test_format_override(tmp_path):
    path = tmp_path / "structures.txt"
    path.write_bytes((DATA / "showcase.xyz").read_bytes())
    with pytest.raises(DatasetError, match=r"structures\.txt.*unknown file extension"):
        read_dataset(path)
    assert read_dataset(path, format="extxyz").n_structures == 29
    assert read_dataset(path, format=".xyz").n_structures == 29
    poscar = tmp_path / "relaxed.out"
    ase.io.write(poscar, bulk("Si"), format="vasp")
    assert read_dataset(poscar, format="POSCAR").n_atoms == 2
    with pytest.raises(DatasetError, match="unknown format 'pdb'"):
        read_dataset(path, format="pdb")


def test_detect_format():
    assert detect_format("a/b/frames.extxyz") == "extxyz"
    assert detect_format("data.XYZ.gz") == "extxyz"
    assert detect_format("poscar_1") == "vasp"
    assert detect_format("CONTCAR") == "vasp"
    assert detect_format("x.json.gz") == "chemiscope"
    assert detect_format("f.npz") == "npz" and detect_format("f.csv") == "csv"
    assert set(FORMATS) == {"extxyz", "cif", "vasp", "traj", "db", "chemiscope", "csv", "npz"}


def test_each_format_registers_its_reader_and_writer():
    from compute import export
    from compute.formats import chemiscope, csv, extxyz, npz, vasp

    assert FORMATS["extxyz"].reader is extxyz.read_extxyz and FORMATS["extxyz"].writer is export.to_extxyz
    assert FORMATS["csv"].writer is csv.to_csv is export.to_csv
    assert FORMATS["npz"].writer is npz.to_npz and FORMATS["chemiscope"].writer is chemiscope.to_chemiscope
    assert FORMATS["vasp"].reader is vasp.read_vasp and FORMATS["vasp"].writer is None


def test_registering_an_extension_twice_fails_at_import(tmp_path, monkeypatch):
    """A second format claiming an extension, alias or prefix is refused when its module is
    imported, and the registry is left as it was."""
    import importlib

    from compute.formats import register

    before = dict(FORMATS)
    (tmp_path / "clashing_format.py").write_text(
        "from compute.formats import register\n"
        "register('cif2', 'another CIF reader', ('.cif',), reader=lambda data, name: None)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="extension '.cif' is already registered by format 'cif'"):
        importlib.import_module("clashing_format")
    with pytest.raises(ValueError, match="'json' is already registered by format 'chemiscope'"):
        register("json2", "JSON", (".jsonl",), reader=None, aliases=("json",))
    with pytest.raises(ValueError, match="prefix 'POSCAR' is already registered by format 'vasp'"):
        register("poscar2", "POSCAR", (".pos",), reader=None, prefixes=("POSCAR",))
    with pytest.raises(ValueError, match="registered twice"):
        register("npz", "NPZ", (".npz2",), reader=None)
    with pytest.raises(ValueError, match="listed twice"):
        register("new", "new", (".new", ".new"), reader=None)
    assert FORMATS == before
    assert detect_format("x.cif") == "cif" and detect_format("x.jsonl", "json") == "chemiscope"


def test_atom_offsets():
    ds = read_dataset(DATA / "trajectory.xyz")
    offsets = ds.atom_offsets
    counts = [len(a) for a in ds.structures]
    assert offsets.dtype == np.int64 and offsets.tolist() == [0, *np.cumsum(counts).tolist()]
    assert ds.atom_offsets is offsets  # computed once
    assert ds.n_atoms == offsets[-1] == len(ds.atom_properties)
    i = 7
    rows = ds.atom_properties.iloc[offsets[i] : offsets[i + 1]]
    assert (rows["structure"] == i).all() and rows["atom"].tolist() == list(range(counts[i]))
    table = read_dataset(b"feature_a,feature_b\n1,2\n3,4\n5,6\n", name="t.csv")
    assert table.atom_offsets.tolist() == [0, 0, 0, 0] and table.atom_offsets.dtype == np.int64


def test_gzipped_xyz(tmp_path):
    path = tmp_path / "trajectory.xyz.gz"
    path.write_bytes(gzip.compress((DATA / "trajectory.xyz").read_bytes()))
    ds = read_dataset(path)
    assert ds.n_structures == 20 and ds.n_atoms == 200


# ------------------------------------------------------------------------------------------
# features tables
# ------------------------------------------------------------------------------------------


def test_npz_as_written_by_featurize(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 4))
    path = tmp_path / "features.npz"
    np.savez(
        path,
        features=X,
        feature_names=np.array(["C-C l=0", "C-C l=1", "C-H l=0", "C-H l=1"]),
        structure=np.array([0, 0, 0, 1, 1, 2, 2]),
        atom=np.array([0, 1, 2, 0, 1, 0, 1]),
        energy=np.arange(7.0),
        kind=np.array(["a", "b", "a", "a", "b", "b", "a"]),
        hypers=np.array(5.0),  # 0-d metadata: skipped
    )
    ds = read_dataset(path)
    assert ds.structures is None and ds.format == "npz"
    np.testing.assert_array_equal(ds.features, X)
    assert ds.feature_names == ["C-C l=0", "C-C l=1", "C-H l=0", "C-H l=1"]
    assert list(ds.structure_properties.columns) == ["structure", "atom", "energy", "kind"]
    assert isinstance(ds.structure_properties["kind"].dtype, pd.CategoricalDtype)
    assert ds.n_structures == 7 and ds.n_atoms == 0 and "hypers" in ds.skipped_properties
    assert ds.summary()["n_features"] == 4


def test_npz_with_object_array_is_refused_without_unpickling(tmp_path):
    # a pickled object whose unpickling would leave a trace: it must never run
    marker = tmp_path / "unpickled"
    payload = np.empty(1, dtype=object)
    payload[0] = _Trap(str(marker))
    path = tmp_path / "evil.npz"
    np.savez(path, features=np.zeros((1, 2)), trap=payload)
    with pytest.raises(DatasetError, match=r"evil\.npz.*object arrays"):
        read_dataset(path)
    assert not marker.exists()
    with pytest.raises(DatasetError, match=r"object_array\.npz.*never unpickled"):
        read_dataset(BAD / "object_array.npz")


class _Trap:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "nofeat.npz", energy=np.arange(3.0))
    with pytest.raises(DatasetError, match=r"nofeat\.npz.*no 'features'"):
        read_dataset(tmp_path / "nofeat.npz")
    np.savez(tmp_path / "names.npz", features=np.zeros((3, 2)), feature_names=np.array(["a", "b", "c"]))
    with pytest.raises(DatasetError, match=r"names\.npz.*mismatched lengths"):
        read_dataset(tmp_path / "names.npz")
    np.savez(tmp_path / "text.npz", features=np.array(["a", "b"]))
    with pytest.raises(DatasetError, match=r"text\.npz.*2-D numeric"):
        read_dataset(tmp_path / "text.npz")
    (tmp_path / "zip.npz").write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(DatasetError, match=r"zip\.npz.*NPZ"):
        read_dataset(tmp_path / "zip.npz")


def test_csv_with_feature_prefix(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("name,energy,feature[1],feature[2],feature[3]\nwater,-1.0,0.1,0.2,0.3\nmethane,-2.0,0.4,0.5,0.6\n")
    ds = read_dataset(path)
    assert ds.feature_names == ["feature[1]", "feature[2]", "feature[3]"]
    np.testing.assert_allclose(ds.features, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    assert list(ds.structure_properties.columns) == ["name", "energy"]
    assert isinstance(ds.structure_properties["name"].dtype, pd.CategoricalDtype)


def test_csv_without_prefix_uses_numeric_columns(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("structure,label,x1,x2\n0,a,1.0,2.0\n1,b,3.0,4.0\n2,a,5.0,6.0\n")
    ds = read_dataset(path)
    assert ds.feature_names == ["x1", "x2"]
    assert list(ds.structure_properties.columns) == ["structure", "label", "x1", "x2"]


def test_csv_errors(tmp_path):
    with pytest.raises(DatasetError, match=r"no_features\.csv.*no numeric feature"):
        read_dataset(BAD / "no_features.csv")
    path = tmp_path / "text_feature.csv"
    path.write_text("feature_a,feature_b\n1.0,x\n2.0,y\n")
    with pytest.raises(DatasetError, match=r"text_feature\.csv.*'feature_b' is not numeric"):
        read_dataset(path)
    path = tmp_path / "nan.csv"
    path.write_text("feature_a,feature_b\n1.0,2.0\n,3.0\n")
    with pytest.raises(DatasetError, match=r"nan\.csv.*'feature_a' of row 1 is NaN"):
        read_dataset(path)
    path = tmp_path / "ragged.csv"
    path.write_text("a,b\n1,2\n3,4,5,6\n")
    with pytest.raises(DatasetError, match=r"ragged\.csv.*line 3"):
        read_dataset(path)


# ------------------------------------------------------------------------------------------
# hostile and broken inputs
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filename, problem",
    [
        ("empty.xyz", "the file is empty"),
        ("blank.cif", "the file is empty"),
        ("truncated.xyz", r"frame 1 \(starting at line 5\).*expected 3"),
        ("malformed_number.xyz", r"frame 0.*could not convert"),
        ("nan_positions.xyz", "frame 1 has NaN or infinite positions"),
        ("pbc_without_cell.xyz", r"frame 1 is periodic.*cell/pbc mismatch"),
        ("zero_atoms.xyz", "frame 1 has zero atoms"),
        ("truncated.json", r"invalid JSON at line 1"),
        ("notes.txt", "unknown file extension '.txt'"),
    ],
)
def test_bad_files_raise_dataset_error_naming_file_and_problem(filename, problem):
    with pytest.raises(DatasetError, match="^" + re.escape(filename) + ": .*" + problem) as info:
        read_dataset(BAD / filename)
    assert isinstance(info.value, ValueError)
    # the same from bytes
    with pytest.raises(DatasetError, match=problem):
        read_dataset((BAD / filename).read_bytes(), name=filename)


def test_infinite_positions_and_partial_cell(tmp_path):
    text = 'Lattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"'
    bad_inf = f"1\n{text}\nH 0 0 0\n1\nProperties=species:S:1:pos:R:3\nH inf 0 0\n"
    with pytest.raises(DatasetError, match=r"inf\.xyz: frame 1 has NaN or infinite"):
        read_dataset(bad_inf.encode(), name="inf.xyz")
    slab = '1\nLattice="5 0 0 0 5 0 0 0 0" Properties=species:S:1:pos:R:3 pbc="T T T"\nH 0 0 0\n'
    with pytest.raises(DatasetError, match=r"slab\.xyz: frame 0 is periodic along c"):
        read_dataset(slab.encode(), name="slab.xyz")
    ok = '1\nLattice="5 0 0 0 5 0 0 0 0" Properties=species:S:1:pos:R:3 pbc="T T F"\nH 0 0 0\n'
    assert read_dataset(ok.encode(), name="slab.xyz").periodic == "periodic"


def test_unknown_element(tmp_path):
    with pytest.raises(DatasetError, match=r"elem\.xyz: cannot read frame 0.*Xx"):
        read_dataset(b"1\n\nXx 0 0 0\n", name="elem.xyz")
    doc = _chemiscope_doc()
    doc["structures"][1]["names"][0] = "Qq"
    with pytest.raises(DatasetError, match=r"bad\.json: structure 1 has an unknown element 'Qq'"):
        read_dataset(json.dumps(doc).encode(), name="bad.json")


def test_chemiscope_errors():
    doc = _chemiscope_doc()
    doc["properties"]["energy"]["values"] = [1.0, 2.0, 3.0]
    with pytest.raises(DatasetError, match=r"c\.json: structure property 'energy' has 3 values for 2 structures"):
        read_dataset(json.dumps(doc).encode(), name="c.json")
    doc = _chemiscope_doc()
    doc["structures"][0]["x"] = [0.0]
    with pytest.raises(DatasetError, match=r"c\.json: structure 0.*mismatched lengths"):
        read_dataset(json.dumps(doc).encode(), name="c.json")
    doc = _chemiscope_doc()
    doc["environments"][0]["center"] = 7
    with pytest.raises(DatasetError, match=r"c\.json: environment 0 points to structure 0, atom 7"):
        read_dataset(json.dumps(doc).encode(), name="c.json")
    with pytest.raises(DatasetError, match=r"c\.json: not a chemiscope input"):
        read_dataset(b"[1, 2, 3]", name="c.json")


def test_no_structures(tmp_path):
    with pytest.raises(DatasetError, match=r"nothing\.db: the file contains no structures"):
        import ase.db

        with ase.db.connect(tmp_path / "nothing.db") as db:
            db.write(molecule("H2"))
            db.delete([1])
        read_dataset(tmp_path / "nothing.db")


def test_binary_formats_check_their_magic(tmp_path):
    with pytest.raises(DatasetError, match=r"old\.traj: not an ASE trajectory"):
        read_dataset(b"PickleTrajectory\x80\x04junk", name="old.traj")
    with pytest.raises(DatasetError, match=r"x\.db: not an ASE SQLite database"):
        read_dataset(b"hello", name="x.db")
    # a real ULM file truncated in the middle
    path = tmp_path / "t.traj"
    ase.io.write(path, _crystals())
    data = path.read_bytes()
    with pytest.raises(DatasetError, match=r"t\.traj: cannot read frame"):
        read_dataset(data[: len(data) // 2], name="t.traj")


def test_size_limit(tmp_path, monkeypatch):
    path = DATA / "showcase.xyz"
    size = path.stat().st_size
    with pytest.raises(DatasetError, match=r"showcase\.xyz: the file is .* over the limit"):
        read_dataset(path, max_bytes=size - 1)
    with pytest.raises(DatasetError, match="over the limit"):
        read_dataset(path.read_bytes(), name="showcase.xyz", max_bytes=1000)
    assert read_dataset(path, max_bytes=size).n_structures == 29
    # the limit is an argument (default DEFAULT_MAX_BYTES): the app's setting is the app's to pass
    monkeypatch.setenv("EXPLORER_MAX_UPLOAD_MB", "0.01")
    assert read_dataset(path).n_structures == 29
    with pytest.raises(DatasetError, match="max_bytes of read_dataset; in the web app, the setting EXPLORER_MAX_UPLOAD_MB"):
        read_dataset(path, max_bytes=10_000)
    monkeypatch.setattr("compute.datasets.DEFAULT_MAX_BYTES", size - 1)
    with pytest.raises(DatasetError, match="over the limit"):
        read_dataset(path)
    # a gzip bomb is stopped at the limit while decompressing
    bomb = gzip.compress(b"\n" * 5_000_000)
    with pytest.raises(DatasetError, match=r"bomb\.xyz\.gz: the file \(decompressed\)"):
        read_dataset(bomb, name="bomb.xyz.gz", max_bytes=1_000_000)


def test_missing_path():
    with pytest.raises(DatasetError, match="nope.xyz: cannot open"):
        read_dataset(DATA / "nope.xyz")


def test_plain_xyz_comment_and_per_atom_strings():
    plain = b"3\nwater, B3LYP optimised\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n"
    ds = read_dataset(plain, name="water.xyz")
    assert ds.n_atoms == 3 and list(ds.structure_properties.columns) == []
    text = (
        "2\nProperties=species:S:1:pos:R:3:site:S:1 pbc=\"F F F\" grid=\"_JSON [1, 2]\"\n"
        "H 0 0 0 a\nH 0 0 0.74 b\n"
        "1\nProperties=species:S:1:pos:R:3:site:S:1 pbc=\"F F F\" grid=\"_JSON [3, 4]\"\nHe 0 0 0 a\n"
    )
    ds = read_dataset(text.encode(), name="sites.extxyz")
    site = ds.atom_properties["site"]
    assert isinstance(site.dtype, pd.CategoricalDtype) and list(site) == ["a", "b", "a"]
    # a JSON-encoded list stays out even when its length is the same everywhere
    assert not any(c.startswith("grid") for c in ds.structure_properties.columns)
    assert "JSON" in ds.skipped_properties["grid"]


@pytest.mark.parametrize(
    "filename, data, problem",
    [
        ("count.xyz", b"999999999999\ncomment\nH 0 0 0\n", "expected 999999999999 atoms"),
        ("negative.xyz", b"-5\ncomment\nH 0 0 0\n", "expected -5 atoms"),
        ("POSCAR", b"x\n1.0\n1 0 0\n0 1 0\n0 0 1\nH\n999999999999\nDirect\n0 0 0\n", "atom count is 999,999,999,999, over the limit"),
        ("deep.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_hostile_counts_and_nesting_fail_fast(filename, data, problem):
    """Tiny files that announce huge sizes or nest without end are refused before any parser
    allocates for them or recurses (each of these hung or crashed a worker before): the memory
    spent before the refusal stays small."""
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=re.escape(filename) + ": .*" + re.escape(problem)):
            read_dataset(data, name=filename)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20e6 + 3 * len(data), f"{peak / 1e6:.0f} MB spent before refusing"


# --------------------------------------------------------------------------------------------
# extended XYZ: the extxyz C parser and ASE's reader give the same Dataset
# --------------------------------------------------------------------------------------------

SHARED = Path("/work/shared/data")
XYZ_FILES = sorted(SHARED.glob("*.xyz")) if SHARED.is_dir() else sorted(DATA.glob("*.xyz"))


def _both_paths(monkeypatch, source, **kwargs):
    """(dataset through the C parser, dataset through ASE's reader, whether the C parser read it)."""
    import compute.formats.extxyz as extxyz_format

    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "1")  # whatever an app made in this process set
    used = []
    real = extxyz_format._native_frames

    def spy(data, comments):
        frames = real(data, comments)
        used.append(frames is not None)
        return frames

    monkeypatch.setattr(extxyz_format, "_native_frames", spy)
    fast = read_dataset(source, **kwargs)
    monkeypatch.setattr(extxyz_format, "_native_frames", lambda data, comments: None)
    slow = read_dataset(source, **kwargs)
    monkeypatch.setattr(extxyz_format, "_native_frames", real)
    return fast, slow, used == [True]


def _assert_same_dataset(a, b):
    assert a.n_structures == b.n_structures
    for x, y in zip(a.structures, b.structures):
        np.testing.assert_array_equal(x.numbers, y.numbers)
        np.testing.assert_array_equal(x.positions, y.positions)
        np.testing.assert_array_equal(np.asarray(x.cell), np.asarray(y.cell))
        np.testing.assert_array_equal(x.pbc, y.pbc)
    for s, t in ((a.structure_properties, b.structure_properties), (a.atom_properties, b.atom_properties)):
        assert list(s.columns) == list(t.columns)
        for c in s.columns:
            assert s[c].dtype == t[c].dtype, c
            pd.testing.assert_series_equal(s[c], t[c], check_exact=True, obj=c)
    assert a.skipped_properties == b.skipped_properties
    assert repr(a.metadata) == repr(b.metadata)


@pytest.mark.parametrize("path", XYZ_FILES, ids=lambda p: p.name)
def test_extxyz_c_parser_and_ase_give_the_same_dataset(monkeypatch, path):
    pytest.importorskip("extxyz")
    fast, slow, used = _both_paths(monkeypatch, path)
    _assert_same_dataset(fast, slow)
    # QM9's comment lines hold `inchi=InChI=1S/...`, which the C grammar refuses: ASE reads that one
    assert used == (path.name != "explore_qm9.xyz")


def test_extxyz_c_parser_matches_ase_on_awkward_values(monkeypatch):
    """9-vectors (ASE keeps them flat, the C parser makes 3x3), virial and 3x3 stress (ASE's
    special keys), JSON, boolean lists, text, integer and logical columns, charges and forces."""
    pytest.importorskip("extxyz")
    frame = ('Lattice="5 0 0 0 5 0 0 0 5" foo="1 2 3 4 5 6 7 8 9" virial="1 2 3 4 5 6 7 8 9" '
             'stress="1 0.5 0.2 0.5 2 0.1 0.2 0.1 3" energy=-1.5 flags="T F T" label=abc n=3 '
             'values="_JSON [1.5, 2.5]" Properties=species:S:1:pos:R:3:tag:I:1:ok:L:1:charge:R:1:forces:R:3')
    text = "\n".join(["2", frame, "h 0 0 0 5 T 0.1 1 0 0", "O 0 0 1 6 F -0.1 0 1 0",
                      "1", 'energy=-2 pbc="F F F" name="two words"', "He 1 1 1"]) + "\n"
    fast, slow, used = _both_paths(monkeypatch, text.encode(), name="awkward.xyz")
    assert used
    _assert_same_dataset(fast, slow)
    assert fast.structure_properties["foo[2]"].iloc[0] == 2  # the 9-vector in its own order
    assert fast.structures[0].numbers.tolist() == [1, 8]  # lower-case symbol capitalised, as ASE does


def test_extxyz_without_the_c_parser_or_refused_by_it_reads_through_ase(monkeypatch):
    import sys

    import compute.formats.extxyz as extxyz_format

    text = (DATA / "explore_c-gap-20u.xyz").read_text()
    comments = extxyz_format._check_xyz_frame_sizes(text, "x.xyz")
    data = text.encode()
    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "1")
    monkeypatch.setitem(sys.modules, "extxyz", None)
    assert extxyz_format._native_frames(data, comments) is None
    assert read_dataset(DATA / "explore_c-gap-20u.xyz").n_structures == 5
    monkeypatch.undo()
    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "1")
    pytest.importorskip("extxyz")
    assert extxyz_format._native_frames(data, comments) is not None
    # the app's untrusted uploads: the C parser is not used at all
    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "0")
    assert extxyz_format._native_frames(data, comments) is None
    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "1")
    # new-style [..] arrays and uid are read differently by the two: ASE reads such files
    assert extxyz_format._native_frames(b"1\nv=[1,2] a=1\nH 0 0 0\n", [b"v=[1,2] a=1"]) is None
    assert extxyz_format._native_frames(b"1\nUID=17\nH 0 0 0\n", ["UID=17"]) is None
    # a malformed atom line: the C parser refuses it, and ASE's error is the one the user sees
    with pytest.raises(DatasetError, match="frame 0"):
        read_dataset(b"2\nenergy=1\nH 0 0 0\nH 0 zero 0\n", name="bad.xyz")


def _awkward_frame(k: int) -> str:
    return (f'Lattice="5 0 0 0 5 0 0 0 {5 + k}" foo="1 2 3 4 5 6 7 8 {9 + k}" virial="1 2 3 4 5 6 7 8 9" '
            f'stress="1 0.5 0.2 0.5 2 0.1 0.2 0.1 {3 + k}" energy={-1.5 - k} flags="T F T" label=abc{k} n={3 + k} '
            f'values="_JSON [1.5, {k}]" dipole="0.1 0.2 {k}" pbc="T T F" '
            'Properties=species:S:1:pos:R:3:tag:I:1:ok:L:1:charge:R:1:forces:R:3:move_mask:L:3')


UNIFORM_TEXTS = {
    # every key in every frame, in the same order: built key by key over the file
    "awkward": "".join(f"2\n{_awkward_frame(k)}\nh 0 0 {k} 5 T 0.1 1 0 0 T T T\nO 0 0 1 6 F -0.1 0 1 0 F F F\n"
                       for k in range(3)),
    "numbers": "".join(f"{k}\nProperties=Z:I:1:pos:R:3:energies:R:1 energy={k}\n"
                       + "".join(f"{k} 0 0 {j} {j}.5\n" for j in range(k)) for k in (1, 2, 3)),
    # only True on a comment line is read as plain-XYZ bare words (and dropped): frame by frame
    "only true": "1\nflag=T\nO 0 0 0\n1\nflag=F\nH 0 0 0\n1\nflag=T\nH 0 0 0\n",
}


@pytest.mark.parametrize("source", [*XYZ_FILES, *UNIFORM_TEXTS], ids=str)
def test_extxyz_c_parser_uniform_frames_key_by_key_same_as_frame_by_frame(monkeypatch, source):
    """Frames with the same keys are turned into columns key by key: the same Dataset as frame by
    frame and as ASE's reader."""
    pytest.importorskip("extxyz")
    import compute.formats.extxyz as extxyz_format

    kwargs = {"name": f"{source}.xyz"} if isinstance(source, str) else {}
    source = UNIFORM_TEXTS[source].encode() if isinstance(source, str) else source
    fast, slow, used = _both_paths(monkeypatch, source, **kwargs)
    uniform = []
    real = extxyz_format._uniform_frames

    def spy(*args):
        out = real(*args)
        uniform.append(out is not None)
        return out

    monkeypatch.setattr(extxyz_format, "_uniform_frames", spy)
    again = read_dataset(source, **kwargs)
    monkeypatch.setattr(extxyz_format, "_uniform_frames", lambda *args: None)
    frame_by_frame = read_dataset(source, **kwargs)
    _assert_same_dataset(fast, slow)
    _assert_same_dataset(again, slow)
    _assert_same_dataset(frame_by_frame, slow)
    if kwargs:
        assert used and uniform == [kwargs["name"] != "only true.xyz"]


@pytest.mark.parametrize("text", [
    "2\ncomment\nH 0 0 0\nH 0 0 1\n",
    "2\ncomment\nH 0 0 0\nH 0 0 1",  # no final line break
    "\n\n1\n\nHe 0 0 0\n\n\n 1 \t\na=1\nHe 0 0 0\n",  # blank lines, spaces around a count, empty comment
    "1 extra words\nc\nHe 0 0 0\n",
    "1_0\nc\n" + "He 0 0 0\n" * 10,
    "3\nc\nH 0 0 0\n",  # truncated
    "-1\nc\n",
    "2\nc\nH 0 0 0\nH 0 0 1\nnot a count\nc\n",
    "0\nzero atoms\n1\nc\nH 0 0 0\n",
    "1\nc\n",
])
def test_extxyz_count_scan_on_bytes_same_as_on_text(text):
    """The count scan of plain ASCII files runs on the bytes: the same comments, refusals and
    messages as on the text."""
    import compute.formats.extxyz as extxyz_format

    data = text.encode()
    newlines = extxyz_format._plain_line_breaks(data)
    assert newlines is not None

    def outcome(scan, *args):
        try:
            comments = scan(*args)
        except DatasetError as exc:
            return str(exc)
        return None if comments is None else [c if isinstance(c, str) else c.decode() for c in comments]

    assert outcome(extxyz_format._check_xyz_frame_sizes_bytes, data, "x.xyz", newlines) == outcome(
        extxyz_format._check_xyz_frame_sizes, text, "x.xyz")
    # what bytes and text would split differently is scanned as text
    for odd in ("\r\n", "\x0b", "\x1c", "\x1f", "é"):
        assert extxyz_format._plain_line_breaks((text + odd + "\n").encode()) is None


def test_extxyz_c_parser_reads_from_memory_or_from_a_temporary_file(monkeypatch):
    pytest.importorskip("extxyz")
    import sys

    import compute.formats.extxyz as extxyz_format

    monkeypatch.setenv(extxyz_format.NATIVE_XYZ_VARIABLE, "1")
    path = XYZ_FILES[0]
    from extxyz import cextxyz

    if sys.platform.startswith("linux"):
        fp = extxyz_format._memory_file(cextxyz, b"1\n\nH 0 0 0\n")
        assert fp is not None
        cextxyz.cfclose(fp)
    in_memory = read_dataset(path)
    monkeypatch.setattr(extxyz_format, "_memory_file", lambda cextxyz, data: None)
    _assert_same_dataset(read_dataset(path), in_memory)
