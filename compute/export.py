"""Writers for what a user selected: extended XYZ, CSV, NPZ and chemiscope JSON, as ``bytes``.

Each writer takes the :class:`~compute.datasets.Dataset` (or a feature matrix) and a selection of
row indices and returns the file's content; the app sends it as a download and the command line
writes it where the user asked. Nothing here opens a file, so no name chosen by a client ever
becomes a path.

Rows are **structures** (``per="structure"``, the default: row ``i`` is ``dataset.structures[i]``
and ``dataset.structure_properties.iloc[i]``) or **atoms** (``per="atom"``: row ``r`` is
``dataset.atom_properties.iloc[r]``, the centre of environment ``r`` in a per-atom map, in the
order :meth:`compute.descriptors.SoapPowerSpectrum.compute` gives them with ``per="atom"``).

Rules shared by every writer:

* an empty selection raises ``ValueError("nothing selected ...")``; indices out of range, repeated,
  or not integers raise a ``ValueError`` that names them; a boolean mask with one entry per row is
  accepted too;
* arrays given with the selection (map coordinates, predictions, errors, cluster labels) hold
  **one value per selected row**, in the order of ``indices``;
* feature names travel with every features export.

Summary:

=====================  =======================================================================
:func:`to_extxyz`       selected structures (or the structures holding the selected atoms, with a
                        per-atom ``selected`` flag) with their properties; reads back with
                        :func:`compute.datasets.read_dataset`
:func:`to_csv`          ``index``, the given columns, then the rows' properties
:func:`to_npz`          ``features``, ``feature_names``, ``index`` and extras; a features table
                        for :func:`~compute.datasets.read_dataset`
:func:`to_chemiscope`   a chemiscope input file (``.json`` or ``.json.gz``) with the map
                        coordinates as properties and settings pointing the map at them
=====================  =======================================================================
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Mapping, Sequence

import ase
import ase.io
import numpy as np
import pandas as pd

from ._dispatch import to_numpy
from .datasets import Dataset

__all__ = ["DEFAULT_CUTOFF", "to_chemiscope", "to_csv", "to_extxyz", "to_npz"]

#: Cutoff (Å) drawn around the selected centres of a per-atom chemiscope export by default.
DEFAULT_CUTOFF = 3.5

_SPLIT = re.compile(r"^(.+)\[(\d+)\]$")
# extended XYZ column names must not contain spaces or the Properties separator ':'
_BAD_ARRAY_NAME = re.compile(r"[^A-Za-z0-9_\-\[\]]")
# info keys and per-atom arrays that ASE's extended XYZ writer gives a meaning of its own
_RESERVED_INFO = frozenset({"Lattice", "Properties", "pbc"})
_RESERVED_ARRAYS = frozenset({"numbers", "positions", "species", "pos", "Z", "selected"})


# --------------------------------------------------------------------------------------------
# selections
# --------------------------------------------------------------------------------------------


def _check_per(per: str) -> str:
    if per not in ("structure", "atom"):
        raise ValueError(f"per={per!r}: expected 'structure' or 'atom'")
    return per


def _n_rows(dataset: Dataset, per: str) -> int:
    if per == "atom":
        return len(dataset.atom_properties)
    return dataset.n_structures


def _selection(indices, n_rows: int, what: str = "row") -> np.ndarray:
    """Validated integer indices (in the given order) into ``n_rows`` rows."""
    if indices is None:
        raise ValueError("nothing selected: indices is None")
    arr = np.asarray(to_numpy(indices))
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size == 0:
        raise ValueError(f"nothing selected: the selection of {what}s is empty. Select points on the map first.")
    if arr.dtype.kind == "b":
        if arr.size != n_rows:
            raise ValueError(f"a boolean selection needs one entry per {what} ({n_rows}), got {arr.size}")
        arr = np.flatnonzero(arr)
        if arr.size == 0:
            raise ValueError(f"nothing selected: the boolean selection of {what}s is all False")
        return arr.astype(np.int64)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{what} indices must be integers, got values of dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = arr[(arr < 0) | (arr >= n_rows)]
    if bad.size:
        shown = ", ".join(str(int(b)) for b in bad[:10]) + (", ..." if bad.size > 10 else "")
        raise ValueError(f"{what} indices out of range (valid: 0 to {n_rows - 1}): {shown}")
    uniq, counts = np.unique(arr, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        shown = ", ".join(str(int(d)) for d in dup[:10]) + (", ..." if dup.size > 10 else "")
        raise ValueError(f"{what} indices selected more than once: {shown}")
    return arr


def _per_row(values: Mapping | None, n: int, what: str) -> dict[str, np.ndarray]:
    """``{name: 1-D array of n values}``, checked."""
    out: dict[str, np.ndarray] = {}
    for name, v in (values or {}).items():
        if isinstance(v, Mapping):
            raise ValueError(f"{what} {name!r}: give an array of values, not a mapping")
        if isinstance(v, (pd.Series, pd.Categorical, pd.Index)):
            a = np.asarray(v.astype(object) if isinstance(v, pd.Categorical) else v.to_numpy())
        else:
            a = np.asarray(to_numpy(v))
        if a.ndim != 1 or len(a) != n:
            raise ValueError(f"{what} {name!r} has shape {a.shape}; expected one value per selected row ({n})")
        out[str(name)] = a
    return out


def _atom_rows(dataset: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(structure, atom) of atom rows."""
    table = dataset.atom_properties
    return (
        table["structure"].to_numpy(dtype=np.int64)[rows],
        table["atom"].to_numpy(dtype=np.int64)[rows],
    )


def _offsets(dataset: Dataset) -> np.ndarray:
    counts = np.array([len(a) for a in dataset.structures], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)])


def _need_structures(dataset: Dataset, what: str) -> None:
    if dataset.structures is None:
        raise ValueError(f"{dataset.name} is a features table without structures: it cannot be exported as {what}")


# --------------------------------------------------------------------------------------------
# table columns -> values
# --------------------------------------------------------------------------------------------


def _is_numeric(col) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _grouped(columns: Sequence[str], numeric: set[str]) -> list[tuple[str, list[str]]]:
    """Columns in order, ``name[1..k]`` numeric runs regrouped as ``(name, [name[1], ...])``."""
    parts: dict[str, dict[int, str]] = {}
    for c in columns:
        m = _SPLIT.match(c)
        if m and c in numeric:
            parts.setdefault(m.group(1), {})[int(m.group(2))] = c
    groups = {
        base: [comp[j] for j in range(1, len(comp) + 1)]
        for base, comp in parts.items()
        if len(comp) >= 2 and sorted(comp) == list(range(1, len(comp) + 1)) and base not in columns
    }
    out: list[tuple[str, list[str]]] = []
    seen: set[str] = set()
    for c in columns:
        m = _SPLIT.match(c)
        base = m.group(1) if m else None
        if base in groups:
            if base not in seen:
                seen.add(base)
                out.append((base, groups[base]))
        else:
            out.append((c, [c]))
    return out


def _scalar(v):
    """A Python scalar for ASE's info, or None when missing."""
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        return None if np.isnan(v) else float(v)
    return str(v)


# --------------------------------------------------------------------------------------------
# extended XYZ
# --------------------------------------------------------------------------------------------


def to_extxyz(dataset: Dataset, indices, *, per: str = "structure", extra_properties: Mapping | None = None) -> bytes:
    """The selected structures as an extended XYZ file, with their properties.

    Structure properties go to each frame's comment line (``info``); a value missing (NaN) in a
    frame is left out of that frame; columns ``name[1]``, ``name[2]``, ... are written back as one
    vector ``name``. Atom properties become per-atom columns (names with spaces or ``:`` get
    ``_`` instead, as the format needs; text columns with missing values or spaces are left out).
    :func:`compute.datasets.read_dataset` reads the file back with the same structures and
    properties: ``info`` values keep full precision, per-atom columns and positions have 8
    decimals (ASE's extended XYZ writer).

    Parameters
    ----------
    dataset : Dataset
        A dataset with structures.
    indices : array-like of int, or boolean mask
        Selected structures (``per="structure"``) or atom rows (``per="atom"``).
    per : {"structure", "atom"}
        ``"atom"``: ``indices`` are rows of ``dataset.atom_properties``; the structures holding
        them are written once each, in increasing order, with a per-atom boolean column
        ``selected`` marking the selected centres.
    extra_properties : dict of str to array, optional
        One value per selected row (map coordinates, predictions, cluster labels, ...), in the
        order of ``indices``: added to ``info`` (per structure) or as per-atom columns, NaN
        (empty text for strings) on atoms that were not selected (per atom). To keep the original
        structure indices, pass them here, e.g. ``{"source_index": indices}``.

    Returns
    -------
    bytes
        UTF-8 text.

    Raises
    ------
    ValueError
        Nothing selected, indices out of range or repeated, a features table without structures,
        extra properties of the wrong length or whose names are already used.

    Examples
    --------
    >>> from compute.datasets import read_dataset
    >>> ds = read_dataset(b"1\\nenergy=-1.0\\nHe 0 0 0\\n2\\nenergy=-2.0\\nH 0 0 0\\nH 0 0 0.74\\n", name="x.xyz")
    >>> data = to_extxyz(ds, [1], extra_properties={"pc1": [0.5]})
    >>> back = read_dataset(data, name="selection.xyz")
    >>> back.n_structures, back.structure_properties.loc[0, ["energy", "pc1"]].tolist()
    (1, [-2.0, 0.5])
    >>> sel = read_dataset(to_extxyz(ds, [2], per="atom"), name="atoms.xyz")
    >>> sel.n_structures, sel.atom_properties["selected"].tolist()
    (1, [False, True])
    """
    per = _check_per(per)
    _need_structures(dataset, "extended XYZ")
    rows = _selection(indices, _n_rows(dataset, per), "structure" if per == "structure" else "atom")
    extra = _per_row(extra_properties, len(rows), "extra property")

    s_table = dataset.structure_properties
    a_table = dataset.atom_properties
    s_cols = [str(c) for c in s_table.columns]
    a_cols = [str(c) for c in a_table.columns if c not in ("structure", "atom")]

    if per == "structure":
        structures = rows
    else:
        sel_structure, sel_atom = _atom_rows(dataset, rows)
        structures = np.unique(sel_structure)
    clash = [k for k in extra if k in (s_cols if per == "structure" else a_cols) or k in _RESERVED_INFO or k == "selected"]
    if clash:
        raise ValueError(f"extra property {clash[0]!r}: a property of that name already exists; choose another name")

    offsets = _offsets(dataset)
    s_numeric = {c for c in s_cols if _is_numeric(s_table[c])}
    a_numeric = {c for c in a_cols if _is_numeric(a_table[c])}
    s_groups = [(k, cs) for k, cs in _grouped(s_cols, s_numeric) if k not in _RESERVED_INFO]
    a_groups = _grouped(a_cols, a_numeric)
    s_values = {c: s_table[c].to_numpy(dtype=object) if c not in s_numeric else s_table[c].to_numpy(dtype=float, na_value=np.nan) for c in s_cols}
    a_values = {c: a_table[c].to_numpy(dtype=object) if c not in a_numeric else a_table[c].to_numpy(dtype=float, na_value=np.nan) for c in a_cols}
    a_ints = {c for c in a_numeric if pd.api.types.is_integer_dtype(a_table[c])}

    # per-atom mode: selected flags and extra columns over all atoms of the dataset
    selected = extra_atoms = None
    if per == "atom":
        selected = np.zeros(int(offsets[-1]), dtype=bool)
        selected[rows] = True
        extra_atoms = {}
        for k, v in extra.items():
            if v.dtype.kind in "iufb":
                full = np.full(len(selected), np.nan)
                full[rows] = v.astype(float)
            else:
                full = np.full(len(selected), "", dtype=object)
                full[rows] = [str(x) for x in v]
            extra_atoms[k] = full

    frames = []
    for j, i in enumerate(structures):
        src = dataset.structures[int(i)]
        atoms = ase.Atoms(numbers=src.numbers, positions=src.positions, cell=src.cell, pbc=src.pbc)
        for key, cols in s_groups:
            if len(cols) == 1:
                v = _scalar(s_values[cols[0]][i])
                if v is not None:
                    atoms.info[key] = v
            else:
                vec = np.array([s_values[c][i] for c in cols], dtype=float)
                if not np.isnan(vec).all():
                    atoms.info[key] = vec
        if per == "structure":
            for k, v in extra.items():
                value = _scalar(v[j])
                if value is not None:
                    atoms.info[k] = value
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        used: set[str] = set()
        for key, cols in a_groups:
            name = _BAD_ARRAY_NAME.sub("_", key)
            if name in _RESERVED_ARRAYS or name in used:
                continue
            if len(cols) > 1:
                atoms.arrays[name] = np.stack([a_values[c][lo:hi] for c in cols], axis=1)
            elif cols[0] in a_numeric:
                block = a_values[cols[0]][lo:hi]
                atoms.arrays[name] = block.astype(np.int64) if cols[0] in a_ints else block
            else:
                block = a_values[cols[0]][lo:hi]
                if all(isinstance(x, (bool, np.bool_)) for x in block):
                    atoms.arrays[name] = np.array(block, dtype=bool)
                elif all(isinstance(x, str) and x and not re.search(r"\s", x) for x in block):
                    atoms.arrays[name] = np.array(block, dtype=str)
                else:  # missing values or text with spaces do not fit an extended XYZ column
                    continue
            used.add(name)
        if per == "atom":
            atoms.arrays["selected"] = selected[lo:hi].copy()
            for k, full in extra_atoms.items():
                name = _BAD_ARRAY_NAME.sub("_", k)
                block = full[lo:hi]
                if name in used or name in _RESERVED_ARRAYS:
                    raise ValueError(f"extra property {k!r}: a property of that name already exists; choose another name")
                if block.dtype == object and any((not x) or re.search(r"\s", x) for x in block):
                    block = np.array([re.sub(r"\s", "_", x) or "_" for x in block], dtype=str)
                atoms.arrays[name] = block.astype(str) if block.dtype == object else block
        frames.append(atoms)

    buffer = io.StringIO()
    ase.io.write(buffer, frames, format="extxyz")
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def to_csv(dataset: Dataset, indices, *, columns: Mapping | None = None, per: str = "structure") -> bytes:
    """A CSV table of the selected rows: ``index``, the given columns, then the rows' properties.

    Parameters
    ----------
    dataset : Dataset
        Any dataset (a features table too).
    indices : array-like of int, or boolean mask
        Selected structures (``per="structure"``) or atom rows (``per="atom"``).
    columns : dict of str to array, optional
        One value per selected row, in the order of ``indices``: map coordinates, predictions,
        errors, cluster labels, ... Written after ``index`` in the given order.
    per : {"structure", "atom"}
        ``"atom"``: rows are atoms; the table has ``index``, ``structure``, ``atom``, the given
        columns, the atom properties, then the properties of each atom's structure.

    Returns
    -------
    bytes
        UTF-8 CSV with a header line; missing values are empty.

    Raises
    ------
    ValueError
        Nothing selected, indices out of range or repeated, columns of the wrong length or whose
        names are already used by the index columns or by a property.

    Notes
    -----
    A property of the dataset named like an index column (``index``, and ``structure``/``atom``
    per atom) is written as ``"<name> (property)"``; in per-atom mode a structure property named
    like an atom property gets ``" (structure)"`` appended.

    Examples
    --------
    >>> from compute.datasets import read_dataset
    >>> ds = read_dataset(b"1\\nenergy=-1.0\\nHe 0 0 0\\n1\\nenergy=-2.0\\nNe 0 0 0\\n", name="x.xyz")
    >>> print(to_csv(ds, [1, 0], columns={"pc1": [0.25, -0.25]}).decode())
    index,pc1,energy
    1,0.25,-2.0
    0,-0.25,-1.0
    <BLANKLINE>
    """
    per = _check_per(per)
    if per == "atom":
        _need_structures(dataset, "a per-atom table")
    rows = _selection(indices, _n_rows(dataset, per), "structure" if per == "structure" else "atom")
    given = _per_row(columns, len(rows), "column")

    index_cols = ("index",) if per == "structure" else ("index", "structure", "atom")
    out: dict[str, object] = {"index": rows}
    if per == "atom":
        sel_structure, sel_atom = _atom_rows(dataset, rows)
        out["structure"] = sel_structure
        out["atom"] = sel_atom
        prop_tables = [
            (dataset.atom_properties.drop(columns=["structure", "atom"]).iloc[rows], ""),
            (dataset.structure_properties.iloc[sel_structure], " (structure)"),
        ]
    else:
        prop_tables = [(dataset.structure_properties.iloc[rows], "")]
    prop_names = {str(c) for table, _ in prop_tables for c in table.columns}
    clash = [k for k in given if k in index_cols or k in prop_names]
    if clash:
        raise ValueError(f"column {clash[0]!r}: the name is already used by an index column or a property; choose another name")
    out.update(given)
    for table, suffix in prop_tables:
        for c in table.columns:
            name = str(c)
            if name in index_cols:
                name = f"{name} (property)"
            elif name in out:
                name = f"{name}{suffix or ' (property)'}"
            out[name] = table[c].to_numpy()
    frame = pd.DataFrame(out)
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# NPZ
# --------------------------------------------------------------------------------------------


def _npz_array(name: str, value) -> np.ndarray:
    """An array ``np.load(allow_pickle=False)`` can read: numbers, booleans or fixed-width text."""
    if isinstance(value, str):
        return np.array(value)
    if isinstance(value, pd.Categorical):
        value = np.asarray(value.astype(object))
    elif isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy(dtype=object) if not _is_numeric(value) else value.to_numpy(dtype=float, na_value=np.nan)
    a = np.asarray(to_numpy(value))
    if a.dtype.kind in "biufUS":
        return a
    if a.dtype.kind == "O":
        if all(isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) or x is None for x in a.ravel()):
            return np.array([np.nan if x is None else float(x) for x in a.ravel()]).reshape(a.shape)
        return np.array(["" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in a.ravel()], dtype=str).reshape(a.shape)
    raise ValueError(f"extra {name!r}: values of dtype {a.dtype} cannot be stored without pickle")


def to_npz(features, feature_names: Sequence[str], indices, *, extra: Mapping | None = None) -> bytes:
    """Selected rows of a feature matrix as an NPZ archive, with the feature names.

    Parameters
    ----------
    features : array-like, shape (n_rows, n_features)
        All rows of the features (numpy or cupy): all columns, or the selected feature columns
        (pass the sliced matrix and the matching names).
    feature_names : sequence of str
        One name per column of ``features``.
    indices : array-like of int, or boolean mask
        Selected rows.
    extra : dict, optional
        More arrays to store: 1-D arrays with one value per selected row (map coordinates,
        properties, ``structure``/``atom`` indices, ...), which
        :func:`~compute.datasets.read_dataset` reads as property columns, or anything numpy
        stores without pickle (a JSON string of the hyperparameters, ...). Text and categorical
        values are stored as fixed-width strings, missing text as ``""``.

    Returns
    -------
    bytes
        An uncompressed ``.npz`` archive with ``features`` (float), ``feature_names`` (str),
        ``index`` (int64, the selected row indices) and the extras.

    Raises
    ------
    ValueError
        Nothing selected, indices out of range or repeated, features not 2-D or not finite,
        names of the wrong length, extras that need pickle or reuse a reserved key.

    Examples
    --------
    >>> import numpy as np
    >>> from compute.datasets import read_dataset
    >>> X = np.arange(12.0).reshape(4, 3)
    >>> data = to_npz(X, ["a", "b", "c"], [3, 1], extra={"pc1": np.array([0.1, 0.2])})
    >>> with np.load(io.BytesIO(data), allow_pickle=False) as npz:
    ...     npz["features"].tolist(), npz["feature_names"].tolist(), npz["index"].tolist()
    ([[9.0, 10.0, 11.0], [3.0, 4.0, 5.0]], ['a', 'b', 'c'], [3, 1])
    >>> table = read_dataset(data, name="selection.npz")
    >>> table.feature_names, table.structure_properties["pc1"].tolist()
    (['a', 'b', 'c'], [0.1, 0.2])
    """
    X = np.asarray(to_numpy(features))
    if X.ndim != 2:
        raise ValueError(f"features must be a 2-D array (rows, features), got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"features must be numeric, got dtype {X.dtype}")
    if feature_names is None:
        raise ValueError("feature_names are required: they travel with every features export")
    names = [str(n) for n in feature_names]
    if len(names) != X.shape[1]:
        raise ValueError(f"{len(names)} feature names for {X.shape[1]} feature columns (mismatched lengths)")
    rows = _selection(indices, X.shape[0], "row")
    block = X[rows]
    if block.dtype.kind != "f":
        block = block.astype(np.float64)
    if not np.isfinite(block).all():
        r, c = np.argwhere(~np.isfinite(block))[0]
        raise ValueError(f"feature {names[c]!r} of row {int(rows[r])} is NaN or infinite")
    arrays = {"features": block, "feature_names": np.array(names, dtype=str), "index": rows}
    for key, value in (extra or {}).items():
        key = str(key)
        if key in arrays:
            raise ValueError(f"extra {key!r}: that key is reserved (features, feature_names, index)")
        arrays[key] = _npz_array(key, value)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# chemiscope
# --------------------------------------------------------------------------------------------


def _json_values(values) -> list:
    """A chemiscope ``values`` list: floats (NaN where missing) or strings (categories)."""
    if isinstance(values, pd.Categorical):
        values = values.astype(object)
    if isinstance(values, (pd.Series, pd.Index)):
        if _is_numeric(values):
            values = values.to_numpy(dtype=float, na_value=np.nan)
        else:
            values = values.to_numpy(dtype=object)
    a = np.asarray(to_numpy(values))
    if a.dtype.kind in "iuf":
        a = a.astype(float)
        return np.where(np.isfinite(a), a, np.nan).tolist()
    if a.dtype.kind == "b":
        return [str(bool(x)) for x in a]
    if a.dtype.kind in "US":
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in a.tolist()]
    items = a.tolist()
    if all(x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in items):
        return [np.nan if x is None or not np.isfinite(x) else float(x) for x in items]
    return ["" if x is None or (isinstance(x, float) and np.isnan(x)) else str(x) for x in items]


def _chemiscope_structure(atoms: ase.Atoms) -> dict:
    out = {
        "size": len(atoms),
        "names": list(atoms.get_chemical_symbols()),
        "x": atoms.positions[:, 0].tolist(),
        "y": atoms.positions[:, 1].tolist(),
        "z": atoms.positions[:, 2].tolist(),
    }
    cell = np.asarray(atoms.cell)
    if atoms.pbc.any() and abs(np.linalg.det(cell)) > 1e-12:
        out["cell"] = cell.reshape(-1).tolist()
    return out


def _env_cutoff(environments) -> float | None:
    """None for per-structure mode, else the cutoff of per-atom mode."""
    if environments is None or environments is False:
        return None
    if environments is True:
        return DEFAULT_CUTOFF
    if isinstance(environments, Mapping):
        cutoff = float(environments.get("cutoff", DEFAULT_CUTOFF))
    else:
        cutoff = float(environments)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f"environment cutoff must be a positive number of Å, got {cutoff}")
    return cutoff


def to_chemiscope(
    dataset: Dataset,
    indices=None,
    *,
    map_coordinates: Mapping,
    properties: Mapping | None = None,
    environments=None,
    meta: Mapping | None = None,
    color: str | None = None,
    compress: bool = False,
) -> bytes:
    """A chemiscope input file of the selection, with the map coordinates as properties.

    The file follows chemiscope's input format (``meta``, ``structures``, ``properties``,
    ``environments``, ``settings``) and opens in chemiscope (https://chemiscope.org, or
    ``chemiscope.show_input``) showing our map: ``settings.map`` puts the first, second (and
    third) map coordinate on the x, y (and z) axes and colours the points by ``color``. Missing
    numeric values are written as ``NaN``, which chemiscope's loaders accept; categorical
    properties are written as strings.

    Parameters
    ----------
    dataset : Dataset
        A dataset with structures.
    indices : array-like of int, boolean mask, or None
        Selected structures (per structure) or atom rows (per atom); ``None``: every row.
    map_coordinates : dict of str to array
        At least two map coordinates (``{"PC1": ..., "PC2": ...}``), one value per selected
        row; the first three become the map's axes.
    properties : dict, optional
        More properties, one value per selected row: an array, or a dict with ``values`` and
        optional ``units`` and ``description``. Give cluster labels as strings to have them
        treated as categories.
    environments : None, True, float or dict, optional
        ``None`` (default): one point per structure, ``target: "structure"``; atom properties
        are left out (chemiscope only shows them for environments). Otherwise per-atom
        mode: ``indices`` are rows of ``dataset.atom_properties``, the structures holding them
        are written once each (in increasing order), one environment per selected centre (in the
        order of ``indices``) with the cutoff given here (``{"cutoff": 5.0}`` or ``5.0``;
        ``True``: :data:`DEFAULT_CUTOFF`); atom properties, map coordinates and ``properties``
        are given per environment (``target: "atom"``) and structure properties per structure.
    meta : dict, optional
        ``name``, ``description``, ``authors``, ``references``. Defaults to the dataset's name and
        a description of the selection.
    color : str, optional
        Name of a property (of the dataset, or of ``map_coordinates``/``properties``) that
        colours the map; default: uniform colour.
    compress : bool
        Gzip the JSON (for a ``.json.gz`` file).

    Returns
    -------
    bytes
        UTF-8 JSON, gzip-compressed when ``compress``.

    Raises
    ------
    ValueError
        Nothing selected, indices out of range or repeated, a features table without structures,
        fewer than two map coordinates, arrays of the wrong length, an unknown ``color``, a name
        used twice.

    Examples
    --------
    >>> import json
    >>> from compute.datasets import read_dataset
    >>> ds = read_dataset(b"1\\nenergy=-1.0\\nHe 0 0 0\\n1\\nenergy=-2.0\\nNe 0 0 0\\n", name="x.xyz")
    >>> doc = json.loads(to_chemiscope(ds, [1, 0], map_coordinates={"PC1": [1.0, 2.0], "PC2": [0.0, 0.5]},
    ...                                color="energy"))
    >>> sorted(doc), doc["properties"]["energy"]
    (['meta', 'properties', 'settings', 'structures'], {'target': 'structure', 'values': [-2.0, -1.0]})
    >>> doc["settings"]["map"]["x"], doc["settings"]["map"]["color"]
    ({'property': 'PC1'}, {'property': 'energy'})
    >>> read_dataset(json.dumps(doc).encode(), name="sel.json").structure_properties["PC1"].tolist()
    [1.0, 2.0]
    """
    _need_structures(dataset, "a chemiscope file")
    cutoff = _env_cutoff(environments)
    per = "structure" if cutoff is None else "atom"
    n_rows = _n_rows(dataset, per)
    rows = _selection(np.arange(n_rows) if indices is None else indices, n_rows, per)
    coords = _per_row(map_coordinates, len(rows), "map coordinate")
    if len(coords) < 2:
        raise ValueError(f"map_coordinates needs at least two coordinates (x and y), got {list(coords)}")
    extras: dict[str, dict] = {}
    for name, value in (properties or {}).items():
        spec = dict(value) if isinstance(value, Mapping) else {"values": value}
        if "values" not in spec:
            raise ValueError(f"property {name!r}: a dict needs 'values'")
        spec["values"] = _per_row({name: spec["values"]}, len(rows), "property")[str(name)]
        extras[str(name)] = spec

    if per == "structure":
        structures = rows
        s_rows = rows
    else:
        sel_structure, sel_atom = _atom_rows(dataset, rows)
        structures = np.unique(sel_structure)
        s_rows = structures
        position = np.searchsorted(structures, sel_structure)

    props: dict[str, dict] = {}

    def add(name: str, target: str, values, units=None, description=None) -> None:
        if name in props:
            raise ValueError(f"property {name!r} is given twice (map coordinate, dataset property or extra property); rename one")
        entry = {"target": target, "values": _json_values(values)}
        if units is not None:
            entry["units"] = str(units)
        if description is not None:
            entry["description"] = str(description)
        props[name] = entry

    row_target = "structure" if per == "structure" else "atom"
    for name, values in coords.items():
        add(name, row_target, values, description="map coordinate")
    for name, spec in extras.items():
        add(name, row_target, spec["values"], spec.get("units"), spec.get("description"))
    s_table = dataset.structure_properties
    for c in s_table.columns:
        add(str(c), "structure", s_table[c].iloc[s_rows])
    if per == "atom":
        a_table = dataset.atom_properties
        for c in a_table.columns:
            if c not in ("structure", "atom"):
                add(str(c), "atom", a_table[c].iloc[rows])
    if color is not None and color not in props:
        raise ValueError(f"color={color!r} is not a property of the export (known: {', '.join(props)})")

    axes = list(coords)
    map_settings: dict = {
        "x": {"property": axes[0]},
        "y": {"property": axes[1]},
        "z": {"property": axes[2] if len(axes) > 2 else ""},
        "color": {"property": color or ""},
    }
    periodic = any(bool(dataset.structures[int(i)].pbc.any()) for i in structures)
    viewer: dict = {"unitCell": periodic}
    if per == "atom":
        viewer["environments"] = {"activated": True, "cutoff": cutoff}
    meta = dict(meta or {})
    unknown = sorted(set(meta) - {"name", "description", "authors", "references"})
    if unknown:
        raise ValueError(f"meta: unknown key(s) {unknown}; chemiscope knows name, description, authors, references")
    meta.setdefault("name", dataset.name or "selection")
    what = f"{len(rows)} structures" if per == "structure" else f"{len(rows)} atomic environments in {len(structures)} structures"
    meta.setdefault("description", f"{what} selected from {dataset.name} with structure-explorer.")
    doc: dict = {
        "meta": {k: (list(map(str, v)) if k in ("authors", "references") else str(v)) for k, v in meta.items()},
        "structures": [_chemiscope_structure(dataset.structures[int(i)]) for i in structures],
        "properties": props,
    }
    if per == "atom":
        doc["environments"] = [
            {"structure": int(p), "center": int(a), "cutoff": cutoff} for p, a in zip(position, sel_atom)
        ]
    doc["settings"] = {"target": row_target, "map": map_settings, "structure": [viewer]}
    data = json.dumps(doc, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if compress:
        return gzip.compress(data, compresslevel=6, mtime=0)
    return data
