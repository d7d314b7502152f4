"""Chemiscope input files (``.json``, ``.json.gz``): structures, properties and environments.

The reader takes chemiscope's input format (``structures``, ``properties`` with a ``target``,
optional ``environments``) through :func:`json.loads`; :func:`to_chemiscope` writes a selection
with the map coordinates as properties and settings that show our map in chemiscope.

Multi-component properties. chemiscope stores a vector (an ``(n, k)`` array given to
``chemiscope.write_input``) as ``k`` properties ``name[1]``, ..., ``name[k]``, the names the
other readers give the components of a vector (an extended XYZ ``dipole`` becomes
``dipole[1..3]``): read as those columns, written back so. A *multidimensional* property (array
values, with ``parameters`` naming the file's parameter along its components, e.g. a density of
states) is read as the same ``name[j]`` columns, each with the property's units and its
description followed by `` [component j]`` (as ``write_input`` describes the columns of an
array); the property's own units, description and parameters stay in the metadata, and an
export writes it back as one multidimensional property. One of more components than a table
takes (:data:`~compute.datasets.MAX_COMPONENTS`) is no column but kept whole
(``metadata["values"]``, per structure) and written back too.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping

import ase
import numpy as np
import pandas as pd
from ase.data import atomic_numbers

from .. import budget
from .._dispatch import to_numpy
from ..datasets import INDEX_COLUMNS, Dataset, DatasetError, offsets_from_counts
from ._common import (
    FEATURES_HELP, add_columns, columns_from_values, features_dataset, index_columns, validate_frames, within_budget,
)
from ._registry import register
from ._writing import atom_rows, is_numeric, need_structures, per_row, row_count, selection

__all__ = ["DEFAULT_CUTOFF", "NAN_JSON", "NAN_MARKER", "PALETTES", "read_chemiscope", "to_chemiscope"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


#: chemiscope's loaders turn this string back into NaN (the ``JSON.parse`` reviver of its app and
#: widgets; ``Visualizer.dataset()`` writes missing numbers so): strict JSON with missing values.
#: Those loaders first replace every bare ``NaN`` word of the text by this string, which would
#: break the string itself, so files spell its ``N`` as the JSON escape ``\u004e``
#: (:data:`NAN_JSON`): the same string to every JSON parser, and no ``NaN`` word in the text.
NAN_MARKER = "***NaN***"
NAN_JSON = '"***\\u004eaN***"'
#: a cell read from a foreign chemiscope file is taken as a box around a molecule (non-periodic)
#: when the atoms leave at least this much vacuum (Å) to their images along all three axes
VACUUM_GAP = 2.0
# what a chemiscope file carries besides structures, properties and environments
_KEPT = ("settings", "parameters", "shapes")


def _revive(value):
    """A value of a read file with chemiscope's NaN marker turned back into NaN (also inside the
    list of a multidimensional property's value)."""
    if isinstance(value, list):
        return [np.nan if x == NAN_MARKER else x for x in value]
    return np.nan if value == NAN_MARKER else value


def _component_names(name: str, k: int) -> list[str]:
    """The columns of a property of ``k`` components: ``name`` itself for one, else ``name[1]``,
    ``name[2]``, ... (the names ``chemiscope.write_input`` gives the columns of an ``(n, k)``
    array, and the other readers the components of a vector)."""
    return [name] if k == 1 else [f"{name}[{j}]" for j in range(1, k + 1)]


def _describe_components(key: str, columns: dict, prop: dict, units: dict, descriptions: dict) -> None:
    """Units and descriptions of the columns an array-valued (multidimensional) property is split
    into, as ``chemiscope.write_input`` gives them to the columns of an ``(n, k)`` array: the
    units of the property, its description with `` [component j]``."""
    if len(columns) < 2:
        return
    for j, column in enumerate(columns, start=1):
        if prop.get("units") not in (None, ""):
            units.setdefault(column, prop["units"])
        if prop.get("description") not in (None, ""):
            descriptions.setdefault(column, f"{prop['description']} [component {j}]")


def _refuse_constant(token: str):
    raise ValueError(f"bare {token} is not JSON")


def read_chemiscope(data: bytes, name: str) -> Dataset:
    try:
        text = data.decode("utf-8")
        try:  # strict JSON first, with chemiscope's NaN marker revived
            doc = json.loads(text, parse_constant=_refuse_constant)
        except ValueError as exc:
            if "bare" not in str(exc):
                raise
            doc = json.loads(text)  # Python's json (and chemiscope's loaders) accept bare NaN
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

    skipped: dict[str, str] = {}
    metadata = _read_metadata(doc, name)
    raw_structures = doc.get("structures")
    structures: list[ase.Atoms] | None = None
    if raw_structures is not None and not isinstance(raw_structures, list):
        raise DatasetError(f"{name}: 'structures' must be a list of structures.")
    external = bool(raw_structures) and all(isinstance(s, dict) and "data" in s and "names" not in s for s in raw_structures)
    if external:
        # structures stored in other files (chemiscope.write_external_structures): not in this upload
        skipped["structures"] = (
            f"the {len(raw_structures)} structures are in external files ('data': {raw_structures[0]['data']!r}, ...),"
            " which an upload does not include: read as a properties table"
        )
        raw_structures = None
    if raw_structures:
        sizes = [len(s["names"]) if isinstance(s, dict) and isinstance(s.get("names"), list) else 0 for s in raw_structures]
        within_budget(name, budget.check_counts, sizes)
        unit_cell = _unit_cell_setting(doc.get("settings"))
        structures = []
        guessed = []
        for j, s in enumerate(raw_structures):
            atoms, was_guessed = _structure_from_json(s, j, name, unit_cell)
            structures.append(atoms)
            if was_guessed:
                guessed.append(j)
        validate_frames(structures, name, what="structure")
        if guessed:
            metadata["pbc_guessed"] = guessed

    raw_properties = doc.get("properties") or {}
    if not isinstance(raw_properties, dict):
        raise DatasetError(f"{name}: 'properties' must be an object mapping names to {{target, values}}.")
    counts = np.array([len(a) for a in structures], dtype=np.int64) if structures is not None else None
    n_atoms = int(counts.sum()) if counts is not None else 0

    environments = None
    env_rows = None
    if doc.get("environments") is not None and structures is not None:
        environments = _chemiscope_environments(doc["environments"], counts, name)
        env_rows = offsets_from_counts(counts)[environments["structure"].to_numpy()] + environments["center"].to_numpy()
    elif doc.get("environments") is not None:
        if not external:
            raise DatasetError(f"{name}: 'environments' need 'structures' in the file.")
        skipped["environments"] = "environments of structures in external files"

    n_structures = len(structures) if structures is not None else (len(raw_structures or []) or None)
    s_table: dict = {}
    a_table: dict = index_columns(counts if counts is not None else np.zeros(0, np.int64))
    units, descriptions, prop_parameters = {}, {}, {}
    kept_values: dict[str, list] = {}
    for key, prop in raw_properties.items():
        if not isinstance(prop, dict) or "values" not in prop or not isinstance(prop["values"], list):
            raise DatasetError(f"{name}: property {key!r} must be an object with 'target' and a list of 'values'.")
        target = prop.get("target", "structure")
        values = [_revive(v) for v in prop["values"]]
        if structures is None and target == "atom":
            skipped[key] = "atom property of a file without (readable) structures"
            continue
        if n_structures is None:  # properties only: one row per value
            n_structures = len(values)
        if target == "structure" and len(values) != n_structures and len(values) == n_atoms and n_atoms:
            target = "atom"  # chemiscope accepts this: per-atom values stored under target=structure
        for field_, kept in (("units", units), ("description", descriptions), ("parameters", prop_parameters)):
            if prop.get(field_) not in (None, ""):
                kept[str(key)] = prop[field_]
        if target == "structure":
            if len(values) != n_structures:
                raise DatasetError(
                    f"{name}: structure property {key!r} has {len(values)} values for {n_structures} structures"
                    f" (mismatched lengths). Give one value per structure."
                )
            columns = columns_from_values(key, np.arange(len(values)), values, n_structures, skipped)
            add_columns(s_table, columns, key, skipped)
            _describe_components(key, {} if key in skipped else columns, prop, units, descriptions)
            if key in skipped and "parameters" in prop and _numeric_lists(values):
                # a multidimensional property of more components than the tables take: kept
                # whole, so that an export gives it back
                kept_values[str(key)] = [None if v is None else list(v) for v in values]
        elif target == "atom":
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
            columns = columns_from_values(key, rows, values, n_atoms, skipped)
            add_columns(a_table, columns, key, skipped, reserved=INDEX_COLUMNS)
            _describe_components(key, {} if key in skipped else columns, prop, units, descriptions)
        else:
            raise DatasetError(f"{name}: property {key!r} has target {target!r}; expected 'structure' or 'atom'.")
    metadata.update(units=units, descriptions=descriptions)
    if prop_parameters:
        metadata["property_parameters"] = prop_parameters
    if kept_values and structures is not None:
        metadata["values"] = kept_values
    if structures is None:
        return _properties_only(name, s_table, n_structures or 0, skipped, metadata)
    return Dataset(
        name,
        structures,
        pd.DataFrame(s_table, index=pd.RangeIndex(n_structures or 0)),
        pd.DataFrame(a_table),
        environments=environments,
        skipped_properties=skipped,
        metadata=metadata,
    )


def _numeric_lists(values: list) -> bool:
    """Whether every value is a list of numbers (NaN included), all of one length."""
    lengths = {len(v) for v in values if isinstance(v, list)}
    return (len(lengths) == 1 and all(isinstance(v, list) for v in values)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for v in values for x in v))


def _read_metadata(doc: dict, name: str) -> dict:
    """``meta`` (name, description, authors, references) and the settings, parameters and shapes."""
    out: dict = {}
    meta = doc.get("meta")
    if isinstance(meta, dict):
        kept = {}
        for key in ("name", "description"):
            if isinstance(meta.get(key), str):
                kept[key] = meta[key]
        for key in ("authors", "references"):
            if isinstance(meta.get(key), list):
                kept[key] = [str(x) for x in meta[key]]
        out["meta"] = kept
    for key in _KEPT:
        if isinstance(doc.get(key), dict) and doc[key]:
            out[key] = doc[key]
    return out


def _properties_only(name: str, s_table: dict, n: int, skipped: dict, metadata: dict) -> Dataset:
    """A file without structures: a features table of its numeric structure properties (as a
    CSV without ``feature`` columns), every property kept as a column too."""
    if not s_table:
        raise DatasetError(f"{name}: the chemiscope file has neither structures nor properties.")
    numeric = [k for k, v in s_table.items() if not isinstance(v, pd.Categorical) and np.asarray(v).dtype.kind in "iuf"]
    complete = [k for k in numeric if np.isfinite(np.asarray(s_table[k], dtype=float)).all()]
    if not complete:
        raise DatasetError(
            f"{name}: a chemiscope file without structures is read as a features table, but it has no numeric"
            f" property without missing values ({FEATURES_HELP})"
        )
    for k in numeric:
        if k not in complete:
            skipped.setdefault(f"{k} (as a feature)", "missing values: kept as a property, not used as a feature")
    features = np.column_stack([np.asarray(s_table[k], dtype=float) for k in complete])
    dataset = features_dataset(name, features, complete, s_table, skipped)
    dataset.metadata = metadata
    return dataset


def _unit_cell_setting(settings) -> bool | None:
    """The file's ``settings.structure[0].unitCell`` (whether its author shows the cell), if given."""
    try:
        value = settings["structure"][0]["unitCell"]
    except (KeyError, IndexError, TypeError):
        return None
    return value if isinstance(value, bool) else None


def _vacuum_gaps(positions: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Along each cell vector, the distance between the atoms and their nearest periodic image."""
    frac = np.linalg.solve(cell.T, positions.T).T
    extent = frac.max(axis=0) - frac.min(axis=0)
    volume = abs(np.linalg.det(cell))
    spacing = [volume / np.linalg.norm(np.cross(cell[(a + 1) % 3], cell[(a + 2) % 3])) for a in range(3)]
    return (1.0 - extent) * np.asarray(spacing)


def _structure_from_json(s, j: int, name: str, unit_cell: bool | None) -> tuple[ase.Atoms, bool]:
    """One structure and whether its periodicity was guessed.

    chemiscope has no ``pbc``: its writer stores the cell of any structure that has one, a box
    around a molecule too. Periodicity comes from our own ``pbc`` key when present; else a file
    whose settings hide the cell (``unitCell: false``) holds molecules; else a cell is periodic
    unless the atoms sit inside it with :data:`VACUUM_GAP` of vacuum along every axis.
    """
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
    guessed = False
    explicit = s.get("pbc")
    if isinstance(explicit, list) and len(explicit) == 3 and all(isinstance(p, bool) for p in explicit):
        pbc = np.array(explicit)
    elif s.get("cell") is None:
        pbc = np.zeros(3, dtype=bool)
    else:
        pbc = np.linalg.norm(cell, axis=1) > 0
        if unit_cell is False:
            pbc, guessed = np.zeros(3, dtype=bool), True
        elif pbc.all() and np.isfinite(positions).all() and abs(np.linalg.det(cell)) > 1e-12:
            if (_vacuum_gaps(positions, cell) >= VACUUM_GAP).all():
                pbc, guessed = np.zeros(3, dtype=bool), True
    return ase.Atoms(numbers=numbers_, positions=positions, cell=cell, pbc=pbc), guessed


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
    """A chemiscope ``values`` list: floats (:data:`NAN_MARKER` where missing) or strings."""
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
        return [x if np.isfinite(x) else NAN_MARKER for x in a.tolist()]
    if a.dtype.kind == "b":
        return [str(bool(x)) for x in a]
    if a.dtype.kind in "US":
        return [x.decode("utf-8", "replace") if isinstance(x, bytes) else str(x) for x in a.tolist()]
    items = a.tolist()
    if all(x is None or (isinstance(x, (int, float)) and not isinstance(x, bool)) for x in items):
        return [NAN_MARKER if x is None or not np.isfinite(x) else float(x) for x in items]
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
        # chemiscope has no pbc (a cell means periodic to it, a box around a molecule too): said
        # here for our reader; chemiscope ignores the key
        out["pbc"] = [bool(p) for p in atoms.pbc]
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


#: chemiscope's map palettes (its ``settings.map.palette`` choices)
PALETTES = ("inferno", "magma", "plasma", "viridis", "cividis", "seismic", "brg", "twilight", "twilight_shifted", "hsv", "bwr", "rwb")
_VIEW_KEYS = frozenset({"x", "y", "z", "color", "log_color", "palette", "size", "size_factor"})


def _spec(name: str, value) -> dict:
    spec = dict(value) if isinstance(value, Mapping) else {"values": value}
    if "values" not in spec:
        raise ValueError(f"property {name!r}: a dict needs 'values'")
    unknown = set(spec) - {"values", "units", "description"}
    if unknown:
        raise ValueError(f"property {name!r}: unknown key(s) {sorted(unknown)}; give values, units, description")
    return spec


def _subset_shapes(shapes: dict, structures: np.ndarray, offsets: np.ndarray) -> dict:
    """The file's shapes restricted to the exported structures (their per-structure and per-atom
    parameters follow the structures)."""
    atoms = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in structures]) if len(structures) else np.zeros(0, int)

    def one(shape: dict) -> dict:
        out = dict(shape)
        if "parameters" in shape:
            params = dict(shape["parameters"])
            if isinstance(params.get("structure"), list):
                params["structure"] = [params["structure"][int(i)] for i in structures]
            if isinstance(params.get("atom"), list):
                params["atom"] = [params["atom"][int(a)] for a in atoms]
            out["parameters"] = params
        if isinstance(shape.get("shapes"), list):
            out["shapes"] = [one(s) for s in shape["shapes"]]
        return out

    return {name: one(shape) for name, shape in shapes.items() if isinstance(shape, dict)}


def _referenced(settings) -> set[str]:
    """The property names the settings use (map axes, colour, size, symbol; viewer colours)."""
    found: set[str] = set()

    def walk(value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if k in ("property", "symbol") and isinstance(v, str):
                    found.add(v)
                else:
                    walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(settings)
    return found


def _multidimensional(props: dict, prop_parameters: dict, parameters, units: dict, descriptions: dict, referenced: set,
                      kept: dict) -> dict:
    """``props`` with the multidimensional properties of a chemiscope file read before written
    back as such: one property whose values are arrays, with its ``parameters``, in place of the
    columns ``name[1]``, ``name[2]``, ... the reader split it into (also from ``kept``: values of
    more components than the tables take, one per exported structure). Columns that a setting
    uses, that are text, or that do not match the parameter's length stay as they are."""
    groups: dict[str, tuple[str, dict]] = {}  # first column -> (name, property)
    dropped: set[str] = set()
    extra: dict[str, dict] = {}
    for name, names in prop_parameters.items():
        if not (isinstance(names, list) and len(names) == 1 and isinstance(parameters, dict)
                and isinstance(parameters.get(names[0]), dict) and isinstance(parameters[names[0]].get("values"), list)):
            if name in props:
                props[name]["parameters"] = names
            continue
        k = len(parameters[names[0]]["values"])
        columns = _component_names(name, k)
        entry: dict = {}
        if all(c in props for c in columns) and not referenced & set(columns) and (k == 1 or name not in props):
            targets = {props[c]["target"] for c in columns}
            values = [props[c]["values"] for c in columns]
            if len(targets) == 1 and not any(isinstance(v, str) and v != NAN_MARKER for column in values for v in column):
                entry = {"target": targets.pop(), "values": [list(row) for row in zip(*values)]}
        elif name in kept and name not in props and k > 0:
            rows = kept[name]
            if all(row is None or (isinstance(row, list) and len(row) == k) for row in rows):
                entry = {"target": "structure",
                         "values": [_json_values(np.full(k, np.nan) if row is None else np.asarray(row, dtype=float)) for row in rows]}
                columns = []
        if not entry:
            if name in props:
                props[name]["parameters"] = names
            continue
        for field_, source in (("units", units), ("description", descriptions)):
            if source.get(name) not in (None, ""):
                entry[field_] = str(source[name])
        entry["parameters"] = names
        if columns:
            groups[columns[0]] = (name, entry)
            dropped.update(columns)
        else:
            extra[name] = entry
    out: dict = {}
    for name, prop in props.items():
        if name in groups:
            group, entry = groups[name]
            out[group] = entry
        elif name not in dropped:
            out[name] = prop
    out.update(extra)
    return out


def _kept_settings(settings, props: dict) -> tuple[dict, dict]:
    """The map and first structure settings of a read file that still apply: references to
    properties not in the export and selections (``pinned``) are dropped."""

    def clean(d: dict) -> dict:
        out = {}
        for k, v in d.items():
            if isinstance(v, dict) and "property" in v and v["property"] not in ("", *props):
                continue
            if k == "symbol" and v not in ("", *props):
                continue
            out[k] = v
        return out

    if not isinstance(settings, dict):
        return {}, {}
    map_settings = clean(settings["map"]) if isinstance(settings.get("map"), dict) else {}
    structure = settings.get("structure")
    viewer = clean(structure[0]) if isinstance(structure, list) and structure and isinstance(structure[0], dict) else {}
    viewer.pop("environments", None)  # follows this export's mode
    return map_settings, viewer


def to_chemiscope(
    dataset: Dataset,
    indices=None,
    *,
    map_coordinates: Mapping,
    properties: Mapping | None = None,
    environments=None,
    meta: Mapping | None = None,
    color: str | None = None,
    view: Mapping | None = None,
    compress: bool = False,
) -> bytes:
    """A chemiscope input file of the selection, with the map coordinates as properties.

    The file follows chemiscope's input format (``meta``, ``structures``, ``properties``,
    ``environments``, ``settings``, and ``parameters`` and ``shapes`` of a chemiscope file read
    before) and opens in chemiscope (https://chemiscope.org, or ``chemiscope.show_input``) showing
    our map: ``settings.map`` puts the first, second (and third) map coordinate on the x, y (and
    z) axes, or the axes of ``view``, and colours the points by ``color``. It is strict JSON:
    a missing number is written as the string :data:`NAN_MARKER`, which chemiscope's loaders read
    as NaN (and :func:`compute.datasets.read_dataset` too); missing text is ``""``; categorical
    properties are strings. Units and descriptions of the dataset's properties (a chemiscope file
    read before) are written back, and its ``meta``, ``settings``, ``parameters`` and ``shapes``.

    Parameters
    ----------
    dataset : Dataset
        A dataset with structures.
    indices : array-like of int, boolean mask, or None
        Selected structures (per structure) or atom rows (per atom); ``None``: every row.
    map_coordinates : dict of str to array or dict
        At least two map coordinates (``{"PC1": ..., "PC2": ...}``), one value per selected
        row, or dicts with ``values`` and optional ``units``/``description`` (what the axis is:
        method, mixing, target, descriptor; default description "map coordinate").
    properties : dict, optional
        More properties, one value per selected row: an array, or a dict with ``values`` and
        optional ``units`` and ``description``. Give cluster labels as strings to have them
        treated as categories.
    environments : None, True, float or dict, optional
        ``None`` (default): one point per structure, ``target: "structure"``; atom properties
        are written for every atom of the selected structures (``target: "atom"``, which
        chemiscope shows in its structure viewer). Otherwise per-atom mode: ``indices`` are rows
        of ``dataset.atom_properties``, the structures holding them are written once each (in
        increasing order), one environment per selected centre (in the order of ``indices``) with
        the cutoff given here (``{"cutoff": 5.0}`` or ``5.0``; ``True``: :data:`DEFAULT_CUTOFF`);
        atom properties, map coordinates and ``properties`` are given per environment
        (``target: "atom"``) and structure properties per structure; a structure property named
        like an atom property gets ``" (structure)"`` appended (as :func:`~compute.export.to_csv`
        does).
    meta : dict, optional
        ``name``, ``description``, ``authors``, ``references``. Defaults to the dataset's own (a
        chemiscope file read before), its name and a description of the selection.
    color : str, optional
        Name of a property (of the dataset, or of ``map_coordinates``/``properties``) that
        colours the map; default: uniform colour. In per-atom mode a structure property is
        written once more per environment (``"<name> (per environment)"``), as chemiscope
        colours environments by atom properties only.
    view : dict, optional
        The app's view, written as chemiscope ``settings``: ``x``, ``y``, ``z`` (property names;
        ``z`` ``None`` or ``""`` for a 2D map), ``color`` (overrides the argument), ``log_color``,
        ``palette`` (one of :data:`PALETTES`), ``size`` (a numeric property) and ``size_factor``.
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
        fewer than two map coordinates, arrays of the wrong length, an unknown ``color`` or view
        property, a name used twice.

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
    n_structures = dataset.n_structures
    cutoff = _env_cutoff(environments)
    per = "structure" if cutoff is None else "atom"
    n_rows = row_count(dataset, per)
    rows = selection(np.arange(n_rows) if indices is None else indices, n_rows, per)
    coords: dict[str, dict] = {}
    for name, value in map_coordinates.items():
        spec = _spec(str(name), value)
        spec["values"] = per_row({name: spec["values"]}, len(rows), "map coordinate")[str(name)]
        spec.setdefault("description", "map coordinate")
        coords[str(name)] = spec
    if len(coords) < 2:
        raise ValueError(f"map_coordinates needs at least two coordinates (x and y), got {list(coords)}")
    extras: dict[str, dict] = {}
    for name, value in (properties or {}).items():
        spec = _spec(str(name), value)
        spec["values"] = per_row({name: spec["values"]}, len(rows), "property")[str(name)]
        extras[str(name)] = spec
    view = dict(view or {})
    unknown = sorted(set(view) - _VIEW_KEYS)
    if unknown:
        raise ValueError(f"view: unknown key(s) {unknown}; known: {', '.join(sorted(_VIEW_KEYS))}")
    if view.get("color"):
        color = view["color"]

    offsets = dataset.atom_offsets
    if per == "structure":
        structures = rows
        s_rows = rows
    else:
        sel_structure, sel_atom = atom_rows(dataset, rows)
        structures = np.unique(sel_structure)
        s_rows = structures
        position = np.searchsorted(structures, sel_structure)

    info = dataset.metadata or {}
    units = info.get("units") or {}
    descriptions = info.get("descriptions") or {}
    prop_parameters = info.get("property_parameters") or {}
    props: dict[str, dict] = {}

    def add(name: str, target: str, values, units=None, description=None, parameters=None) -> None:
        if name in props:
            raise ValueError(f"property {name!r} is given twice (map coordinate, dataset property or extra property); rename one")
        entry = {"target": target, "values": _json_values(values)}
        if units is not None:
            entry["units"] = str(units)
        if description is not None:
            entry["description"] = str(description)
        if parameters is not None:
            entry["parameters"] = parameters
        props[name] = entry

    def free(name: str, suffix: str) -> str:
        # a dataset property whose name is taken gets a suffix, as the CSV writer does
        out = name
        while out in props or out in given:
            out += suffix
        return out

    row_target = "structure" if per == "structure" else "atom"
    given = set(coords) | set(extras)
    for name, spec in coords.items():
        add(name, row_target, spec["values"], spec.get("units"), spec.get("description"))
    for name, spec in extras.items():
        add(name, row_target, spec["values"], spec.get("units"), spec.get("description"))
    s_table = dataset.structure_properties
    a_table = dataset.atom_properties
    a_cols = [str(c) for c in a_table.columns if c not in INDEX_COLUMNS]
    renamed: dict[str, str] = {}
    if per == "atom":
        for c in a_cols:
            add(free(c, " (atom)"), "atom", a_table[c].iloc[rows], units.get(c), descriptions.get(c))
    for c in s_table.columns:
        c = str(c)
        out_name = free(c, " (structure)") if per == "atom" and c in props else c
        renamed[c] = out_name
        add(out_name, "structure", s_table[c].iloc[s_rows], units.get(c), descriptions.get(c))
    if per == "structure" and a_cols:
        # every atom of the selected structures: chemiscope colours atoms by these
        atom_index = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in structures])
        for c in a_cols:
            add(free(c, " (atom)"), "atom", a_table[c].iloc[atom_index], units.get(c), descriptions.get(c))

    def per_environment(name: str) -> str:
        """In per-atom mode chemiscope maps only atom properties: a structure property shown on
        the map is written once more, per environment."""
        if per != "atom" or name not in props or props[name]["target"] == "atom":
            return name
        copy = f"{name} (per environment)"
        if copy not in props:
            values = props[name]["values"]
            entry = {"target": "atom", "values": [values[p] for p in position]}
            for k in ("units", "description"):
                if k in props[name]:
                    entry[k] = props[name][k]
            props[copy] = entry
        return copy

    def resolve(name, what: str, numeric: bool = False) -> str:
        name = renamed.get(name, name) if name not in props else name
        if name not in props:
            raise ValueError(f"{what}={name!r} is not a property of the export (known: {', '.join(props)})")
        if numeric and any(isinstance(v, str) and v != NAN_MARKER for v in props[name]["values"]):
            raise ValueError(f"{what}={name!r}: a numeric property is needed")
        return per_environment(name)

    axes = list(coords)
    if view.get("x") or view.get("y"):
        x = resolve(view.get("x") or axes[0], "x", numeric=True)
        y = resolve(view.get("y") or axes[1], "y", numeric=True)
        z = resolve(view["z"], "z", numeric=True) if view.get("z") else ""
    else:
        x, y = axes[0], axes[1]
        z = axes[2] if len(axes) > 2 and view.get("z", True) is not None and view.get("z", True) != "" else ""
    if color is not None and color not in props and color not in renamed:
        raise ValueError(f"color={color!r} is not a property of the export (known: {', '.join(props)})")
    color_setting: dict = {"property": resolve(color, "color") if color else ""}
    if view.get("log_color") and color:
        color_setting["scale"] = "log"
    file_map, file_viewer = _kept_settings(info.get("settings"), props)
    map_settings: dict = {k: v for k, v in file_map.items() if k not in ("x", "y", "z", "color", "size")}
    map_settings.update(x={"property": x}, y={"property": y}, z={"property": z}, color=color_setting)
    if view.get("palette"):
        if view["palette"] not in PALETTES:
            raise ValueError(f"palette {view['palette']!r}: chemiscope knows {', '.join(PALETTES)}")
        map_settings["palette"] = view["palette"]
    if view.get("size"):
        size = {"property": resolve(view["size"], "size", numeric=True)}
        if view.get("size_factor") is not None:
            size["factor"] = float(view["size_factor"])
        map_settings["size"] = size
    periodic = any(bool(dataset.structures[int(i)].pbc.any()) for i in structures)
    viewer: dict = {**file_viewer, "unitCell": periodic}
    if per == "atom":
        viewer["environments"] = {"activated": True, "cutoff": cutoff}
        if periodic:  # chemiscope's own writer: a 3x3x3 supercell shows an environment's neighbours
            viewer["supercell"] = [3, 3, 3]
    meta = dict(meta or {})
    unknown = sorted(set(meta) - {"name", "description", "authors", "references"})
    if unknown:
        raise ValueError(f"meta: unknown key(s) {unknown}; chemiscope knows name, description, authors, references")
    for k, v in (info.get("meta") or {}).items():
        meta.setdefault(k, v)
    meta.setdefault("name", dataset.name or "selection")
    what = f"{len(rows)} structures" if per == "structure" else f"{len(rows)} atomic environments in {len(structures)} structures"
    meta.setdefault("description", f"{what} selected from {dataset.name} with structure-explorer.")
    order = ("name", "description", "authors", "references")
    doc: dict = {
        "meta": {k: (list(map(str, meta[k])) if k in ("authors", "references") else str(meta[k])) for k in order if k in meta},
        "structures": [_structure_to_json(dataset.structures[int(i)]) for i in structures],
        "properties": props,
    }
    if per == "atom":
        doc["environments"] = [
            {"structure": int(p), "center": int(a), "cutoff": cutoff} for p, a in zip(position, sel_atom)
        ]
    doc["settings"] = {"target": row_target, "map": map_settings, "structure": [viewer]}
    referenced = _referenced(doc["settings"])
    kept = info.get("values") or {}
    doc["properties"] = _multidimensional(props, prop_parameters, info.get("parameters"), units, descriptions, referenced,
                                          {k: [kept[k][int(i)] for i in s_rows] for k in kept if len(kept[k]) == n_structures})
    if info.get("parameters"):
        doc["parameters"] = info["parameters"]
    if info.get("shapes"):
        doc["shapes"] = _subset_shapes(info["shapes"], structures, offsets)
    text = json.dumps(doc, allow_nan=False, separators=(",", ":"))
    data = text.replace(json.dumps(NAN_MARKER), NAN_JSON).encode("utf-8")
    if compress:
        return gzip.compress(data, compresslevel=6, mtime=0)
    return data


register("chemiscope", "chemiscope JSON", (".json",), read_chemiscope, to_chemiscope, aliases=("json",))
