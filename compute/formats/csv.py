"""CSV features tables: one row per sample, a header line.

**Feature columns** are recognised as follows:

1. if any column name starts with ``feature`` (case-insensitive: ``feature[1]``, ``feature_0``,
   ``features: C-H l=0 n=1``, ...), exactly those columns are the features (they must be
   numeric) and every other column is a property;
2. otherwise every numeric column except the index columns ``structure`` and ``atom`` is a
   feature, and every column (numeric ones included) is also kept as a property, so that the map
   can be coloured by any of them.

:func:`to_csv` writes the selected rows of any dataset with their properties and given columns.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from ..datasets import INDEX_COLUMNS, MAX_TEXT_LENGTH, DatasetError
from ._common import FEATURES_HELP, features_dataset
from ._registry import register
from ._writing import atom_rows, check_per, need_structures, per_row, row_count, selection

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["read_csv", "to_csv"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def read_csv(data: bytes, name: str) -> Dataset:
    try:
        table = pd.read_csv(io.BytesIO(data), skipinitialspace=True)
    except Exception as exc:  # noqa: BLE001 -- pandas' parser errors, in one place
        m = re.search(r"line (\d+)", str(exc))
        where = f" near line {m.group(1)}" if m else ""
        raise DatasetError(f"{name}: cannot read the CSV table{where}: {exc}. Check separators and quoting.") from exc
    columns = [str(c) for c in table.columns]
    table.columns = columns
    marked = [c for c in columns if c.lower().startswith("feature")]
    numeric = [c for c in columns if pd.api.types.is_numeric_dtype(table[c]) and not pd.api.types.is_bool_dtype(table[c])]
    if marked:
        not_numeric = [c for c in marked if c not in numeric]
        if not_numeric:
            raise DatasetError(f"{name}: feature column {not_numeric[0]!r} is not numeric. Feature columns must hold numbers only.")
        feature_cols = marked
        prop_cols = [c for c in columns if c not in marked]
    else:
        feature_cols = [c for c in numeric if c not in INDEX_COLUMNS]
        prop_cols = columns
    if not feature_cols:
        raise DatasetError(f"{name}: no numeric feature columns. {FEATURES_HELP}")
    features = table[feature_cols].to_numpy(dtype=float)
    props: dict = {}
    for c in prop_cols:
        col = table[c]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            props[c] = col.to_numpy()
        else:
            texts = col.dropna().astype(str)
            if (texts.str.len() > MAX_TEXT_LENGTH).any():
                continue
            props[c] = pd.Categorical(col.astype(object).where(col.notna(), None))
    skipped = {c: f"long text (more than {MAX_TEXT_LENGTH} characters)" for c in prop_cols if c not in props}
    return features_dataset(name, features, feature_cols, props, skipped)


# --------------------------------------------------------------------------------------------
# writing
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
    per = check_per(per)
    if per == "atom":
        need_structures(dataset, "a per-atom table")
    rows = selection(indices, row_count(dataset, per), "structure" if per == "structure" else "atom")
    given = per_row(columns, len(rows), "column")

    index_cols = ("index",) if per == "structure" else ("index", "structure", "atom")
    out: dict[str, object] = {"index": rows}
    if per == "atom":
        sel_structure, sel_atom = atom_rows(dataset, rows)
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


register("csv", "CSV features table", (".csv",), read_csv, to_csv)
