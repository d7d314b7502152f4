"""Chemiscope input files (``.json``, ``.json.gz``): structures, properties and environments.

The reader takes chemiscope's input format (``structures``, ``properties`` with a ``target``,
optional ``environments``) through :func:`json.loads`; :func:`to_chemiscope` writes a selection
with the map coordinates as properties and settings that show our map in chemiscope.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

import ase
import numpy as np
import pandas as pd
from ase.data import atomic_numbers

from .. import budget
from .._dispatch import to_numpy
from ..datasets import INDEX_COLUMNS, DatasetError, offsets_from_counts
from ._common import Parts, add_columns, columns_from_values, index_columns, validate_frames, within_budget
from ._registry import register
from ._writing import atom_rows, is_numeric, need_structures, per_row, row_count, selection

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["DEFAULT_CUTOFF", "read_chemiscope", "to_chemiscope"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


def read_chemiscope(data: bytes, name: str) -> Parts:
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{name}: not UTF-8 text ({exc}). Save the chemiscope file as UTF-8 JSON.") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}. The file is truncated"
            f" or malformed; re-export it."
        ) from exc
    except RecursionError:
        raise DatasetError(f"{name}: the JSON is nested too deeply to be a chemiscope file.") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits (Python's int conversion limit)
        raise DatasetError(f"{name}: a value in the JSON cannot be read ({exc}). Fix or re-export the file.") from None
    if not isinstance(doc, dict) or not ("structures" in doc or "properties" in doc):
        raise DatasetError(f"{name}: not a chemiscope input (a JSON object with 'structures' and 'properties').")

    raw_structures = doc.get("structures")
    structures: list[ase.Atoms] | None = None
    if raw_structures is not None:
        if not isinstance(raw_structures, list):
            raise DatasetError(f"{name}: 'structures' must be a list of structures.")
        sizes = [len(s["names"]) if isinstance(s, dict) and isinstance(s.get("names"), list) else 0 for s in raw_structures]
        within_budget(name, budget.check_counts, sizes)
        structures = [_structure_from_json(s, j, name) for j, s in enumerate(raw_structures)]
        validate_frames(structures, name, what="structure")

    raw_properties = doc.get("properties") or {}
    if not isinstance(raw_properties, dict):
        raise DatasetError(f"{name}: 'properties' must be an object mapping names to {{target, values}}.")
    counts = np.array([len(a) for a in structures], dtype=np.int64) if structures is not None else None
    n_atoms = int(counts.sum()) if counts is not None else 0

    environments = None
    env_rows = None
    if doc.get("environments") is not None:
        environments = _chemiscope_environments(doc["environments"], counts, name)
        env_rows = offsets_from_counts(counts)[environments["structure"].to_numpy()] + environments["center"].to_numpy()

    n_structures = len(structures) if structures is not None else None
    skipped: dict[str, str] = {}
    s_table: dict = {}
    a_table: dict = index_columns(counts if counts is not None else np.zeros(0, np.int64))
    for key, prop in raw_properties.items():
        if not isinstance(prop, dict) or "values" not in prop or not isinstance(prop["values"], list):
            raise DatasetError(f"{name}: property {key!r} must be an object with 'target' and a list of 'values'.")
        target = prop.get("target", "structure")
        values = prop["values"]
        if n_structures is None:  # properties only: one row per value
            n_structures = len(values)
        if target == "structure" and len(values) != n_structures and len(values) == n_atoms and n_atoms:
            target = "atom"  # chemiscope accepts this: per-atom values stored under target=structure
        if target == "structure":
            if len(values) != n_structures:
                raise DatasetError(
                    f"{name}: structure property {key!r} has {len(values)} values for {n_structures} structures"
                    f" (mismatched lengths). Give one value per structure."
                )
            add_columns(s_table, columns_from_values(key, np.arange(len(values)), values, n_structures, skipped), key, skipped)
        elif target == "atom":
            if counts is None:
                raise DatasetError(f"{name}: atom property {key!r} needs 'structures' in the file.")
            if len(values) == n_atoms:
                rows = np.arange(n_atoms)
            elif env_rows is not None and len(values) == len(env_rows):
                rows = env_rows
            else:
                expected = f"{n_atoms} atoms" + (f" or {len(env_rows)} environments" if env_rows is not None else "")
                raise DatasetError(
                    f"{name}: atom property {key!r} has {len(values)} values for {expected} (mismatched lengths)."
                    f" Give one value per atom or per environment."
                )
            add_columns(a_table, columns_from_values(key, rows, values, n_atoms, skipped), key, skipped, reserved=INDEX_COLUMNS)
        else:
            raise DatasetError(f"{name}: property {key!r} has target {target!r}; expected 'structure' or 'atom'.")
    if structures is None and not s_table:
        raise DatasetError(f"{name}: the chemiscope file has neither structures nor properties.")
    return Parts(
        structures,
        pd.DataFrame(s_table, index=pd.RangeIndex(n_structures or 0)),
        pd.DataFrame(a_table),
        environments=environments,
        skipped=skipped,
    )


def _structure_from_json(s, j: int, name: str) -> ase.Atoms:
    if not isinstance(s, dict) or not all(k in s for k in ("names", "x", "y", "z")):
        raise DatasetError(f"{name}: structure {j} needs 'names', 'x', 'y' and 'z' lists.")
    names_ = s["names"]
    size = s.get("size", len(names_))
    if not all(isinstance(s[k], list) and len(s[k]) == size for k in ("names", "x", "y", "z")):
        raise DatasetError(f"{name}: structure {j}: 'names', 'x', 'y', 'z' must be lists of 'size'={size} entries (mismatched lengths).")
    try:
        numbers_ = [atomic_numbers[n] for n in names_]
    except (KeyError, TypeError) as exc:
        raise DatasetError(f"{name}: structure {j} has an unknown element {exc.args[0]!r}. Use chemical symbols such as 'C' or 'H'.") from None
    try:
        positions = np.array([s["x"], s["y"], s["z"]], dtype=float).T
        cell = np.zeros((3, 3)) if s.get("cell") is None else np.array(s["cell"], dtype=float).reshape(3, 3)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{name}: structure {j} has non-numeric coordinates or a cell that is not 9 numbers ({exc}).") from None
    pbc = np.linalg.norm(cell, axis=1) > 0 if s.get("cell") is not None else False
    return ase.Atoms(numbers=numbers_, positions=positions, cell=cell, pbc=pbc)


def _chemiscope_environments(raw, counts, name: str) -> pd.DataFrame:
    if counts is None:
        raise DatasetError(f"{name}: 'environments' need 'structures' in the file.")
    try:
        env = pd.DataFrame(
            {
                "structure": np.array([e["structure"] for e in raw], dtype=np.int64),
                "center": np.array([e["center"] for e in raw], dtype=np.int64),
                "cutoff": np.array([e.get("cutoff", np.nan) for e in raw], dtype=float),
            }
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DatasetError(f"{name}: each environment needs integer 'structure' and 'center' and a numeric 'cutoff' ({exc}).") from None
    s, c = env["structure"].to_numpy(), env["center"].to_numpy()
    bad = np.flatnonzero((s < 0) | (s >= len(counts)))
    if bad.size == 0:
        bad = np.flatnonzero((c < 0) | (c >= counts[s]))
    if bad.size:
        k = int(bad[0])
        raise DatasetError(f"{name}: environment {k} points to structure {s[k]}, atom {c[k]}, which does not exist.")
    return env


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

#: Cutoff (Å) drawn around the selected centres of a per-atom chemiscope export by default.
DEFAULT_CUTOFF = 3.5


def _json_values(values) -> list:
    """A chemiscope ``values`` list: floats (NaN where missing) or strings (categories)."""
    if isinstance(values, pd.Categorical):
        values = values.astype(object)
    if isinstance(values, (pd.Series, pd.Index)):
        if is_numeric(values):
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


def _structure_to_json(atoms: ase.Atoms) -> dict:
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
    need_structures(dataset, "a chemiscope file")
    cutoff = _env_cutoff(environments)
    per = "structure" if cutoff is None else "atom"
    n_rows = row_count(dataset, per)
    rows = selection(np.arange(n_rows) if indices is None else indices, n_rows, per)
    coords = per_row(map_coordinates, len(rows), "map coordinate")
    if len(coords) < 2:
        raise ValueError(f"map_coordinates needs at least two coordinates (x and y), got {list(coords)}")
    extras: dict[str, dict] = {}
    for name, value in (properties or {}).items():
        spec = dict(value) if isinstance(value, Mapping) else {"values": value}
        if "values" not in spec:
            raise ValueError(f"property {name!r}: a dict needs 'values'")
        spec["values"] = per_row({name: spec["values"]}, len(rows), "property")[str(name)]
        extras[str(name)] = spec

    if per == "structure":
        structures = rows
        s_rows = rows
    else:
        sel_structure, sel_atom = atom_rows(dataset, rows)
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
        "structures": [_structure_to_json(dataset.structures[int(i)]) for i in structures],
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


register("chemiscope", "chemiscope JSON", (".json",), read_chemiscope, to_chemiscope, aliases=("json",))
