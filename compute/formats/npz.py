"""NPZ features tables.

The key ``features`` (a 2-D numeric array, one row per sample) is required; an optional
``feature_names`` holds one string per column; every other 1-D array with one value per row
becomes a property column (``structure`` and ``atom`` index columns included, as written by
``structure-explorer featurize``). Other arrays are skipped (and listed in
``skipped_properties``). Files are loaded with ``allow_pickle=False``: object arrays are refused,
and the archive's directory is checked against the size limit before anything is inflated.
:func:`to_npz` writes selected rows of a feature matrix in this form.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .._dispatch import to_numpy
from ..datasets import MAX_TEXT_LENGTH, Dataset, DatasetError, too_large
from ._common import FEATURES_HELP, features_dataset
from ._registry import register
from ._writing import is_numeric, selection

__all__ = ["check_npz_members", "descriptor_arrays", "read_npz", "to_npz"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def check_npz_members(data: bytes, name: str, limit: int) -> None:
    """Every member is a ``.npy`` array and together they inflate to no more than the upload
    limit, read from the archive's directory before anything is decompressed (a 4 MB archive
    can hold a 4 GB array)."""
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DatasetError(f"{name}: not a readable NPZ archive ({exc}). Write it with numpy.savez.") from None
    others = [m.filename for m in members if not m.filename.endswith(".npy")]
    if others:
        raise DatasetError(f"{name}: the archive holds {others[0][:80]!r}, which is not a .npy array. "
                           "An NPZ features table holds only arrays (numpy.savez).")
    inflated = sum(m.file_size for m in members)
    if inflated > limit:
        raise too_large(name, inflated, limit, " (its arrays, decompressed)")


def read_npz(data: bytes, name: str) -> Dataset:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001 -- zip, format and "object arrays" errors, in one place
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise DatasetError(
                f"{name}: contains Python objects (object arrays), which are never unpickled from uploads."
                f" Save plain numeric and string arrays (np.savez with numeric/str dtypes)."
            ) from exc
        raise DatasetError(f"{name}: not a readable NPZ archive ({type(exc).__name__}: {exc}). Write it with numpy.savez.") from exc
    if "features" not in arrays:
        raise DatasetError(f"{name}: no 'features' array (keys: {sorted(arrays)}). {FEATURES_HELP}")
    features = arrays.pop("features")
    if features.ndim != 2 or features.dtype.kind not in "iuf":
        raise DatasetError(f"{name}: 'features' must be a 2-D numeric array, got shape {features.shape} of dtype {features.dtype}. {FEATURES_HELP}")
    n, f = features.shape
    raw_names = arrays.pop("feature_names", None)
    if raw_names is None:
        feature_names = [f"feature[{j + 1}]" for j in range(f)]
    else:
        if raw_names.shape != (f,):
            raise DatasetError(f"{name}: 'feature_names' has shape {raw_names.shape} for {f} feature columns (mismatched lengths).")
        if raw_names.dtype.kind == "S":
            raw_names = np.char.decode(raw_names, "utf-8", "replace")
        feature_names = [str(x) for x in raw_names.tolist()]
    props: dict = {}
    skipped: dict = {}
    for key, a in arrays.items():
        if a.ndim != 1 or len(a) != n:
            skipped[key] = f"array of shape {a.shape}, not one value per row ({n} rows)"
            continue
        if a.dtype.kind == "S":
            a = np.char.decode(a, "utf-8", "replace")
        if a.dtype.kind in "iuf":
            props[key] = a
        elif a.dtype.kind in "Ub":
            if a.dtype.kind == "U" and (np.char.str_len(a) > MAX_TEXT_LENGTH).any():
                skipped[key] = f"long text (more than {MAX_TEXT_LENGTH} characters)"
                continue
            props[key] = pd.Categorical(a.tolist())
        else:
            skipped[key] = f"values of dtype {a.dtype}"
    return features_dataset(name, features.astype(float, copy=False), feature_names, props, skipped)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


#: featomic's names of the integer labels of each feature column (its keys moved to properties)
LABEL_NAMES = {
    "power": ("neighbor_1_type", "neighbor_2_type", "l", "n_1", "n_2"),
    "radial": ("neighbor_type", "n"),
}


def descriptor_arrays(calculator, species, *, spectrum: str, per: str, source: str = "", content_hash: str = "") -> dict:
    """What every features NPZ of SOAP features carries, the app's export and ``structure-explorer
    featurize`` alike: ``feature_labels`` (int64, one row per column), ``feature_label_names``
    (featomic's names of those integers) and ``hypers`` (a JSON string: every hyperparameter of
    the calculator, ``per``, ``spectrum``, ``species``, ``source``, ``content_hash``)."""
    species = [int(z) for z in species]
    params = {k: getattr(calculator, k) for k in ("cutoff", "n_max", "l_max", "density_width", "smoothing_width", "center_weight")
              if hasattr(calculator, k)}
    record = dict(params, per=per, spectrum=spectrum, species=species, source=source, content_hash=content_hash)
    return {
        "feature_labels": np.asarray(calculator.feature_labels(species), dtype=np.int64),
        "feature_label_names": np.array(LABEL_NAMES[spectrum], dtype=str),
        "hypers": np.array(json.dumps(record, default=float)),
    }


def _npz_array(name: str, value) -> np.ndarray:
    """An array ``np.load(allow_pickle=False)`` can read: numbers, booleans or fixed-width text."""
    if isinstance(value, str):
        return np.array(value)
    if isinstance(value, pd.Categorical):
        value = np.asarray(value.astype(object))
    elif isinstance(value, (pd.Series, pd.Index)):
        value = value.to_numpy(dtype=object) if not is_numeric(value) else value.to_numpy(dtype=float, na_value=np.nan)
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
    rows = selection(indices, X.shape[0], "row")
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


register("npz", "NPZ features table", (".npz",), read_npz, to_npz, gzip=False, check_size=check_npz_members)
