"""What the writers of :mod:`compute.formats` share: validating a selection of rows and the
arrays given with it (see :mod:`compute.export` for the rules every writer follows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .._dispatch import to_numpy

if TYPE_CHECKING:
    from ..datasets import Dataset


def check_per(per: str) -> str:
    if per not in ("structure", "atom"):
        raise ValueError(f"per={per!r}: expected 'structure' or 'atom'")
    return per


def row_count(dataset: Dataset, per: str) -> int:
    if per == "atom":
        return len(dataset.atom_properties)
    return dataset.n_structures


def selection(indices, n_rows: int, what: str = "row") -> np.ndarray:
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


def per_row(values: Mapping | None, n: int, what: str) -> dict[str, np.ndarray]:
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


def atom_rows(dataset: Dataset, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(structure, atom) of atom rows."""
    table = dataset.atom_properties
    return (
        table["structure"].to_numpy(dtype=np.int64)[rows],
        table["atom"].to_numpy(dtype=np.int64)[rows],
    )


def need_structures(dataset: Dataset, what: str) -> None:
    if dataset.structures is None:
        raise ValueError(f"{dataset.name} is a features table without structures: it cannot be exported as {what}")


def is_numeric(col) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)

