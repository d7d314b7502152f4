"""ASE SQLite databases (``.db``): structures with their key-value pairs, calculator results and
``data``. The file is checked to hold tables only (no view or trigger that would run the
uploader's SQL) before ASE queries it. :func:`to_ase_db` writes a selection as such a database.

How a row's values become properties, and back: key-value pairs and the calculator's results
(``energy``, ``forces``, ``stress``, ...) are properties under their own names; in ``data``, an
array of shape ``(n_atoms, k)`` or a list of ``n_atoms`` strings is a per-atom property (ase.db
stores no text arrays) and anything else (1-D vectors, text that
ASE refuses as a key-value pair, values under names it reserves) a per-structure one. A foreign
database with a per-structure matrix whose first dimension happens to equal the atom count reads
it as per-atom; our writer stores per-structure arrays flattened (1-D) so it never happens there.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

import ase
import numpy as np
import pandas as pd

from .. import budget
from ..datasets import DatasetError
from ._common import structures_dataset
from ._registry import register
from ._writing import atom_rows, check_per, is_numeric, need_structures, per_row, row_count, selection

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["read_db", "to_ase_db"]

# our metadata (meta, units, descriptions) in the database's metadata, under this key
_METADATA_KEY = "structure_explorer"


def _check_plain_sqlite(path: str, name: str) -> None:
    """An ASE database holds tables and indices only: a view or trigger runs the uploader's SQL
    (a recursive view pinned a core for good), so the file is refused before ASE queries it.
    Its row count is checked against the budget too."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            kinds = connection.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall()
            if kinds:
                kind, what = kinds[0]
                raise DatasetError(f"{name}: the database defines a {kind} ({what[:60]!r}); an ASE database has only tables."
                                   " Export the structures with ase.db from a trusted copy.")
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "systems" not in tables:
                raise DatasetError(f"{name}: not an ASE database (it has no 'systems' table).")
            (rows,) = connection.execute("SELECT count(*) FROM systems").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise DatasetError(f"{name}: cannot read the SQLite database ({exc}).") from None
    limits = budget.current()
    if rows > limits.max_structures:  # refused from the count alone: no array of that length is made
        raise DatasetError(f"{name}: {limits.refuse('max_structures', 'the number of structures', rows)}.")


def read_db(data: bytes, name: str) -> Dataset:
    import ase.db

    if not data.startswith(b"SQLite format 3\x00"):
        raise DatasetError(f"{name}: not an ASE SQLite database (.db). Check the file or give the right format.")
    frames: list[ase.Atoms] = []
    kept: dict = {}
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.db")
        with open(path, "wb") as fd:
            fd.write(data)
        _check_plain_sqlite(path, name)
        try:
            with ase.db.connect(path, type="db", use_lock_file=False, serial=True) as db:
                for row in db.select():
                    atoms = row.toatoms()
                    atoms.info.update(row.key_value_pairs)
                    for key, value in (row.get("data") or {}).items():
                        _add_data(atoms, str(key), value)
                    frames.append(atoms)
                ours = (db.metadata or {}).get(_METADATA_KEY)
                if isinstance(ours, dict):
                    kept = {k: v for k, v in ours.items() if k in ("meta", "units", "descriptions") and isinstance(v, dict)}
        except Exception as exc:  # noqa: BLE001 -- sqlite and ASE errors, in one place
            raise DatasetError(
                f"{name}: cannot read row {len(frames)} of the ASE database: {type(exc).__name__}: {exc}."
                f" Check that it was written by ase.db and is not damaged."
            ) from exc
    dataset = structures_dataset(frames, name)
    dataset.metadata.update(kept)
    return dataset


def _add_data(atoms: ase.Atoms, key: str, value) -> None:
    """One entry of a row's ``data``: per atom when an array of shape (n_atoms, k), else per
    structure; never over a key-value pair or an array of the same name."""
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[0] == len(atoms) and value.dtype.kind in "biuf":
        if key not in atoms.arrays:
            atoms.arrays[key] = value[:, 0] if value.shape[1] == 1 else value
    elif isinstance(value, list) and len(value) == len(atoms) and value and all(isinstance(v, str) for v in value):
        # per-atom text: ase.db stores no text arrays, so it is a list of one string per atom
        if key not in atoms.arrays:
            atoms.arrays[key] = np.array(value, dtype=str)
    elif key not in atoms.info:
        atoms.info[key] = value


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

# per-structure values ASE keeps as calculator results (shape, components), and per-atom ones
_CALC_STRUCTURE = {"energy": 1, "free_energy": 1, "magmom": 1, "stress": 6, "dipole": 3}
_CALC_ATOM = {"forces": 3, "charges": 1, "magmoms": 1, "energies": 1}
# per-atom arrays ase.db stores with the structure itself: (components, dtype)
_NATIVE_ARRAYS = {"tags": (1, np.int64), "masses": (1, float), "momenta": (3, float),
                  "initial_magmoms": (1, float), "initial_charges": (1, float)}


def _key_value(key: str, value):
    """``value`` as ASE accepts it in a key-value pair under ``key``, or None when it does not
    (the value then goes to ``data``)."""
    from ase.db.core import check

    try:
        with warnings.catch_warnings():  # keys that read as formulas ("CO") are allowed, with a warning
            warnings.simplefilter("ignore")
            check({key: value})
    except ValueError:
        return None
    return value


def _python(v):
    """A plain Python scalar, or None when missing."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and np.isnan(v)):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def to_ase_db(dataset: Dataset, indices, *, per: str = "structure", extra_properties: Mapping | None = None) -> bytes:
    """The selected structures as an ASE SQLite database (``ase.db``), with their properties.

    Each structure is a row. Per-structure properties are key-value pairs where ASE allows them
    (a name that is an identifier and not one ASE reserves, a number, a flag or text that does not
    read as a number); ``energy``, ``free_energy``, ``magmom``, ``stress`` (6 components) and
    ``dipole`` are the row's calculator results, as ASE stores them; anything else (vectors
    ``name[1..k]`` regrouped as one array, reserved or non-identifier names, text such as "1.5")
    goes to the row's ``data``. Per-atom properties: ``forces``, ``charges``, ``magmoms``,
    ``energies`` as calculator results, ``tags``, ``masses``, ``momenta``, ``initial_magmoms``,
    ``initial_charges`` with the structure, the others as ``data`` arrays of shape (n_atoms, k)
    (text: a list of one string per atom).
    A value missing (NaN) in a structure is left out of its row. The dataset's meta, units and
    descriptions go to the database's metadata (``title`` and ``key_descriptions`` for ASE too).
    :func:`compute.datasets.read_dataset` reads the file back with the same structures and
    properties.

    Parameters
    ----------
    dataset, indices, per : as in :func:`~compute.formats.extxyz.to_extxyz`
        Every row also carries its structure's index in the dataset as ``source_index``.
    extra_properties : dict of str to array, optional
        One value per selected row (map coordinates, predictions, ...), in the order of
        ``indices``: key-value pairs (per structure) or per-atom ``data`` (per atom, NaN or empty
        text on atoms that were not selected).

    Returns
    -------
    bytes
        The SQLite file.

    Raises
    ------
    ValueError
        As :func:`~compute.formats.extxyz.to_extxyz`.

    Examples
    --------
    >>> from compute.datasets import read_dataset
    >>> ds = read_dataset(b"1\\nenergy=-1.0 phase=gas\\nHe 0 0 0\\n2\\nenergy=-2.0 phase=gas\\nH 0 0 0\\nH 0 0 0.74\\n", name="x.xyz")
    >>> back = read_dataset(to_ase_db(ds, [1], extra_properties={"pc1": [0.5]}), name="selection.db")
    >>> row = back.structure_properties.iloc[0]
    >>> back.n_structures, str(row["phase"]), float(row["pc1"]), float(row["energy"])
    (1, 'gas', 0.5, -2.0)
    """
    import ase.db
    from ase.calculators.singlepoint import SinglePointCalculator

    from .extxyz import _grouped

    per = check_per(per)
    need_structures(dataset, "an ASE database")
    rows = selection(indices, row_count(dataset, per), "structure" if per == "structure" else "atom")
    extra = per_row(extra_properties, len(rows), "extra property")
    s_table, a_table = dataset.structure_properties, dataset.atom_properties
    s_cols = [str(c) for c in s_table.columns]
    a_cols = [str(c) for c in a_table.columns if c not in ("structure", "atom")]
    clash = [k for k in extra if k in (s_cols if per == "structure" else a_cols) or k in ("selected", "source_index")]
    if clash:
        raise ValueError(f"extra property {clash[0]!r}: a property of that name already exists; choose another name")
    if per == "structure":
        structures = rows
    else:
        sel_structure, _ = atom_rows(dataset, rows)
        structures = np.unique(sel_structure)

    s_numeric = {c for c in s_cols if is_numeric(s_table[c])}
    a_numeric = {c for c in a_cols if is_numeric(a_table[c])}
    s_values = {c: s_table[c].to_numpy(dtype=float, na_value=np.nan) if c in s_numeric else s_table[c].to_numpy(dtype=object) for c in s_cols}
    a_values = {c: a_table[c].to_numpy(dtype=float, na_value=np.nan) if c in a_numeric else a_table[c].to_numpy(dtype=object) for c in a_cols}
    s_ints = {c for c in s_numeric if pd.api.types.is_integer_dtype(s_table[c])}
    a_ints = {c for c in a_numeric if pd.api.types.is_integer_dtype(a_table[c])}
    s_groups = _grouped(s_cols, s_numeric)
    a_groups = _grouped(a_cols, a_numeric)
    kept = {k: v for k, v in ((dataset.metadata or {}).get("values") or {}).items() if k not in s_cols}
    offsets = dataset.atom_offsets
    if per == "atom":  # selected flags and extra columns over all atoms of the dataset
        selected = np.zeros(int(offsets[-1]), dtype=bool)
        selected[rows] = True
        extra_atoms = {}
        for k, v in extra.items():
            full = np.full(len(selected), np.nan) if v.dtype.kind in "iufb" else np.full(len(selected), "", dtype=object)
            full[rows] = v.astype(float) if v.dtype.kind in "iufb" else [str(x) for x in v]
            extra_atoms[k] = full

    def structure_value(cols, i):
        if len(cols) == 1:
            v = s_values[cols[0]][i]
            return _python(int(v) if cols[0] in s_ints else v)
        vec = np.array([s_values[c][i] for c in cols], dtype=float)
        return None if np.isnan(vec).all() else vec

    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "export.db")
        with ase.db.connect(path, type="db", append=False, use_lock_file=False) as db:
            for j, i in enumerate(structures):
                i = int(i)
                src = dataset.structures[i]
                atoms = ase.Atoms(numbers=src.numbers, positions=src.positions, cell=src.cell, pbc=src.pbc)
                lo, hi = int(offsets[i]), int(offsets[i + 1])
                pairs, data, results = {}, {}, {}
                for key, cols in s_groups:
                    value = structure_value(cols, i)
                    if value is None:
                        continue
                    size = 1 if np.ndim(value) == 0 else len(value)
                    if _CALC_STRUCTURE.get(key) == size and not isinstance(value, (str, bool)):
                        results[key] = value
                    elif size == 1 and _key_value(key, value) is not None:
                        pairs[key] = value
                    else:
                        data[key] = value
                for key, column in kept.items():
                    if column[i] is not None and key not in data:
                        data[key] = column[i]
                for key, cols in a_groups:
                    if cols[0] in a_numeric:
                        block = np.stack([a_values[c][lo:hi] for c in cols], axis=1)
                        if not (cols[0] in a_ints) and np.isnan(block).all():  # absent from this structure
                            continue
                        if cols[0] in a_ints:
                            block = block.astype(np.int64)
                    else:
                        values = a_values[cols[0]][lo:hi]
                        if all(isinstance(x, (bool, np.bool_)) for x in values):
                            block = np.array(values, dtype=bool)[:, None]
                        elif all(isinstance(x, str) for x in values):
                            data[key] = [str(x) for x in values]  # ase.db encodes no text arrays
                            continue
                        else:  # text with missing values: no array holds it
                            continue
                    native = _NATIVE_ARRAYS.get(key)
                    if _CALC_ATOM.get(key) == block.shape[1] and block.dtype.kind in "iuf":
                        results[key] = block[:, 0] if block.shape[1] == 1 else block
                    elif native is not None and native[0] == block.shape[1] and block.dtype.kind in "iuf":
                        atoms.arrays[key] = (block[:, 0] if native[0] == 1 else block).astype(native[1])
                    else:
                        data[key] = block
                if per == "structure":
                    pairs["source_index"] = i  # the structure's index in the dataset, as per atom
                    for k, v in extra.items():
                        value = _python(v[j])
                        if value is None:
                            continue
                        if _key_value(k, value) is not None and k not in pairs:
                            pairs[k] = value
                        else:
                            data[k] = value
                else:
                    pairs["source_index"] = i
                    data["selected"] = selected[lo:hi, None].copy()
                    for k, full in extra_atoms.items():
                        block = full[lo:hi]
                        data[k] = [str(x) for x in block] if block.dtype == object else block[:, None]
                if results:
                    atoms.calc = SinglePointCalculator(atoms, **results)
                with warnings.catch_warnings():  # ASE warns on keys that read as formulas ("U0"), which it accepts
                    warnings.simplefilter("ignore", UserWarning)
                    db.write(atoms, key_value_pairs=pairs, data=data)
            metadata = {k: v for k, v in (dataset.metadata or {}).items() if k in ("meta", "units", "descriptions") and v}
            if metadata or dataset.name:
                info = {"title": str(((metadata.get("meta") or {}).get("name")) or dataset.name), _METADATA_KEY: metadata}
                units, descriptions = metadata.get("units") or {}, metadata.get("descriptions") or {}
                described = [k for k in {*units, *descriptions} if _key_value(k, 0) is not None]
                if described:  # ASE's own (short name, long description, unit)
                    info["key_descriptions"] = {k: (k, str(descriptions.get(k, k)), str(units.get(k, ""))) for k in sorted(described)}
                db.metadata = json.loads(json.dumps(info, default=str))
        with open(path, "rb") as fd:
            return fd.read()


register("db", "ASE database", (".db",), read_db, to_ase_db, aliases=("ase-db", "sqlite"), gzip=False)
