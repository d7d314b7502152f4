"""How the map reads colour values: numeric or categorical, missing values, categories, log ticks.

Pure array functions used by :mod:`explorer.figures.map`; the palette and the category colours
are in :mod:`explorer.figures.style`.
"""

from __future__ import annotations

import numpy as np

from .style import OTHER_NAME, is_noise


def is_numeric_dtype(values: np.ndarray) -> bool:
    return values.dtype.kind in "biuf"


def missing_mask(values: np.ndarray) -> np.ndarray:
    """True where a colour value is missing: NaN/inf, None, NaN objects, empty strings."""
    if values.dtype.kind in "fc":
        return ~np.isfinite(values)
    if values.dtype.kind in "biu":
        return np.zeros(values.shape, dtype=bool)
    if values.dtype.kind in "US":
        return np.char.str_len(values) == 0
    out = np.zeros(values.shape, dtype=bool)
    for k, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, str) and v == ""):
            out[k] = True
        elif isinstance(v, (float, np.floating)) and not np.isfinite(v):
            out[k] = True
    return out


def infer_kind(color: np.ndarray, color_name: str) -> str:
    """"numeric" or "categorical": integers named like a cluster, booleans and text are categories."""
    if color.dtype.kind == "b":
        return "categorical"
    if is_numeric_dtype(color):
        if color.dtype.kind in "iu" and "cluster" in color_name.lower():
            return "categorical"
        return "numeric"
    if color.dtype.kind == "O":
        try:
            color.astype(float)
        except (TypeError, ValueError):
            return "categorical"
        return "numeric"
    return "categorical"


def as_float(values: np.ndarray, name: str) -> np.ndarray:
    """Numeric colour values as floats (None -> NaN); text raises a ValueError naming ``name``."""
    if values.dtype.kind == "O":
        out = np.array([np.nan if v is None else v for v in values.tolist()], dtype=object)
        return out.astype(float)
    try:
        return values.astype(float)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"map_figure: colour property {name!r} is not numeric; use color_kind='categorical'"
        ) from err


def categories(values: np.ndarray, missing: np.ndarray, max_categories: int):
    """Sorted categories (noise last, 'other' after) and a code per point (-1 for missing)."""
    present = values[~missing]
    if present.dtype.kind == "O":
        # mixed objects: compare as strings, but keep ints as ints (cluster labels)
        if all(isinstance(v, (int, np.integer)) for v in present.tolist()):
            present = present.astype(np.int64)
            values = np.where(missing, 0, values).astype(np.int64)
        else:
            present = present.astype(str)
            values = values.astype(str)
    cats, inverse, counts = np.unique(present, return_inverse=True, return_counts=True)
    cats = list(cats.tolist())
    codes_present = inverse.ravel()
    # noise last
    order = sorted(range(len(cats)), key=lambda k: (is_noise(cats[k]), 0))
    if len(cats) > max_categories:
        top = sorted(np.argsort(-counts, kind="stable")[: max_categories - 1].tolist())
        top = sorted(top, key=lambda k: (is_noise(cats[k]), k))
        remap = np.full(len(cats), len(top), dtype=np.int64)
        remap[top] = np.arange(len(top))
        new_cats = [cats[k] for k in top] + [OTHER_NAME]
    else:
        remap = np.empty(len(cats), dtype=np.int64)
        remap[order] = np.arange(len(cats))
        new_cats = [cats[k] for k in order]
    codes = np.full(values.shape[0], -1, dtype=np.int64)
    codes[~missing] = remap[codes_present]
    return new_cats, codes


def log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Ticks for a log10 colour bar, labelled in original units (1, 2, 5 x 10^k, or decades)."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return [], []
    if hi - lo < 1e-12:
        return [lo], [f"{10**lo:.3g}"]
    k0, k1 = int(np.floor(lo)), int(np.ceil(hi))
    for mantissas in ((1.0, 2.0, 5.0), (1.0,)):
        vals = [np.log10(m) + k for k in range(k0, k1 + 1) for m in mantissas]
        vals = [v for v in vals if lo - 1e-9 <= v <= hi + 1e-9]
        if len(vals) <= 8 and (len(vals) >= 2 or mantissas == (1.0,)):
            break
    if len(vals) > 8:  # many decades: every n-th decade
        step = int(np.ceil(len(vals) / 8))
        vals = vals[::step]
    if len(vals) < 2:  # less than a decade and no 1-2-5 value inside: the ends
        vals = [lo, hi]
    return vals, [f"{10**v:.3g}" for v in vals]
