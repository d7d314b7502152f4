"""What each map row is, and the values the map can be coloured, sized or fitted by.

A map row is a structure (per-structure mode), an atomic environment (per-atom mode: every atom,
or the environments a chemiscope file lists), or a row of a features table. Property choices are
encoded as ``"<source>:<name>"`` strings so the browser only ever sends names back:
``structure:<column>``, ``atom:<column>`` (per-atom mode), ``map:predicted``, ``map:error``,
``map:cluster``. A vector or tensor property as a whole (a λ-SOAP model's target) is
``<source>:<name>[*]``: its components are the columns :func:`shape_groups` finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from ase.data import chemical_symbols

from compute.datasets import Dataset

PREDICTED = "map:predicted"
ERROR = "map:error"
ABS_ERROR = "map:abs-error"
CLUSTER = "map:cluster"

#: chemical symbol of each atomic number, to look symbols up for many atoms at once
_SYMBOLS = np.array(chemical_symbols, dtype=object)


@dataclass(frozen=True)
class Rows:
    """Per-atom mode: ``structure[k]``, ``atom[k]`` of each environment row; None per structure."""

    per: str
    structure: np.ndarray
    atom: np.ndarray | None

    def __len__(self) -> int:
        return len(self.structure)


def map_rows(dataset: Dataset, per: str) -> Rows:
    """The rows of a map of ``dataset`` in mode ``per`` ("structure" or "atom")."""
    if per == "atom" and dataset.structures is not None:
        if dataset.environments is not None and len(dataset.environments):
            env = dataset.environments
            return Rows("atom", env["structure"].to_numpy(np.int64), env["center"].to_numpy(np.int64))
        counts, offsets, _ = _atom_index(dataset)
        structure = np.repeat(np.arange(len(counts)), counts)
        # every atom of every structure: the atom's flat position less its structure's first
        return Rows("atom", structure, np.arange(offsets[-1], dtype=np.int64) - offsets[structure])
    n = dataset.n_structures
    return Rows("structure", np.arange(n), None)


def _atom_index(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(counts, offsets, numbers): the atoms of each structure, where each structure starts in the
    flat (structure, atom) order (``offsets[-1]`` atoms in all), and every atom's atomic number
    in that order.

    One pass over the structures, kept on the (cached, never modified) dataset object: every
    redraw of a per-atom map needs them; the number of structures guards against a stale copy.
    """
    structures = dataset.structures
    cached = dataset.__dict__.get("_atom_index")
    if cached is not None and len(cached[0]) == len(structures):
        return cached
    offsets = dataset.atom_offsets
    counts = np.diff(offsets)
    numbers = np.concatenate([np.asarray(a.numbers, dtype=np.int64) for a in structures]) if len(structures) else np.zeros(0, np.int64)
    dataset.__dict__["_atom_index"] = (counts, offsets, numbers)
    return counts, offsets, numbers


def atom_row_positions(dataset: Dataset, rows: Rows) -> np.ndarray:
    """Position of each environment in the flat (structure, atom) order of per-atom features."""
    _, offsets, _ = _atom_index(dataset)
    return offsets[rows.structure] + rows.atom


def _centre_symbols(dataset: Dataset, rows: Rows) -> np.ndarray:
    """Chemical symbol (``str``, in an object array) of each environment's centre atom."""
    _, _, numbers = _atom_index(dataset)
    return _SYMBOLS[numbers[atom_row_positions(dataset, rows)]]


def atom_table_positions(dataset: Dataset, rows: Rows) -> np.ndarray:
    """Row of ``dataset.atom_properties`` of each environment (float, NaN where there is none)."""
    table = dataset.atom_properties
    lookup = pd.Series(np.arange(len(table)), index=pd.MultiIndex.from_arrays([table["structure"], table["atom"]]))
    return lookup.reindex(pd.MultiIndex.from_arrays([rows.structure, rows.atom])).to_numpy()


#: keys that readers (ASE's extended XYZ and database readers, quippy's writers) put beside the
#: data: they describe the file, not the structures, and are never offered as properties
BOOKKEEPING = frozenset({"cutoff", "nneightol", "pos_unit", "pbc", "unique_id", "ctime", "mtime", "user"})
#: the centre atom's element, offered in per-atom mode (and its default colour)
ELEMENT = "atom:element"


def is_bookkeeping(name, series: pd.Series) -> bool:
    """A reader's bookkeeping key, or an ``index`` column that only numbers the rows."""
    if str(name) in BOOKKEEPING:
        return True
    if str(name) == "index" and is_numeric(series):
        values = series.to_numpy()
        return bool(len(values)) and np.array_equal(values, np.arange(len(values)))
    return False


def property_columns(table: pd.DataFrame) -> list[str]:
    """The columns of a property table worth showing (no reader bookkeeping)."""
    return [c for c in table.columns if not is_bookkeeping(c, table[c])]


def _vectors(columns) -> list[str]:
    """Names ``v`` with columns ``v[1]``, ``v[2]``, ``v[3]`` (a 3-vector: its length is offered)."""
    names = {str(c)[:-3] for c in columns if str(c).endswith("[1]")}
    return [v for v in sorted(names) if {f"{v}[2]", f"{v}[3]"} <= {str(c) for c in columns} and f"{v}[4]" not in {str(c) for c in columns}]


#: component suffixes of a symmetric 3x3 tensor written as six named columns (``alpha_xx`` ...)
TENSOR_SUFFIXES = ("xx", "yy", "zz", "xy", "xz", "yz")
#: the choice of a whole vector or tensor property ends with this
WHOLE = "[*]"


def numeric_columns(table: pd.DataFrame, names) -> list:
    """The numeric (not boolean) columns among ``names``, the row-index columns left out."""
    return [c for c in names if c not in ("structure", "atom") and is_numeric(table[c])]


def shape_groups(columns) -> dict[str, list]:
    """Vectors and tensors among ``columns``: ``name[1]``, ``name[2]``, ... (3 or 6 of them) ->
    {name: those columns in order}; and ``axx ayy azz axy axz ayz`` -> {a: those 6}. Six
    components are a symmetric tensor in the order xx yy zz xy xz yz (extended XYZ's and
    chemiscope's)."""
    found: dict[str, dict[int, object]] = {}
    for column in columns:
        match = re.fullmatch(r"(.+)\[(\d+)\]", str(column))
        if match:
            found.setdefault(match.group(1), {})[int(match.group(2))] = column
    groups = {name: [parts[k] for k in sorted(parts)] for name, parts in found.items()
              if sorted(parts) in ([1, 2, 3], [1, 2, 3, 4, 5, 6])}
    by_name = {str(c): c for c in columns}
    for column in list(by_name):
        if column.endswith("xx"):
            prefix = column[:-2]
            parts = [prefix + s for s in TENSOR_SUFFIXES]
            if all(p in by_name for p in parts) and prefix not in groups:
                groups[prefix] = [by_name[p] for p in parts]
    return groups


def tensor_options(dataset: Dataset, per: str) -> list[dict]:
    """Options for learning a vector (3 components: a dipole) or a symmetric tensor (6: a
    polarizability) whole, with a λ-SOAP model: structure properties, and per atom the atoms'."""
    if dataset.structures is None:
        return []  # a features table has no geometry to build equivariant features from
    options = []
    sources = [("structure", dataset.structure_properties, "")]
    if per == "atom":
        sources.append(("atom", dataset.atom_properties, " (atom)"))
    for source, table, suffix in sources:
        for name, columns in shape_groups(numeric_columns(table, table.columns)).items():
            kind = "vector" if len(columns) == 3 else "tensor"
            options.append({"label": f"{name}{suffix}: whole {kind} (λ-SOAP model)", "value": f"{source}:{name}{WHOLE}"})
    return options


def is_tensor_choice(choice: str | None) -> bool:
    return bool(choice) and choice.endswith(WHOLE)


def choice_name(choice: str) -> str:
    """The property's name in a choice, for titles and column names (``dipole`` for a whole vector)."""
    name = choice.partition(":")[2]
    return name[: -len(WHOLE)] if name.endswith(WHOLE) else name


def tensor_values(dataset: Dataset, rows: Rows, choice: str) -> np.ndarray:
    """``(n_rows, 3)`` or ``(n_rows, 6)`` components of a whole vector / tensor choice; KeyError
    for an unknown one."""
    source, _, name = choice.partition(":")
    table = dataset.structure_properties if source == "structure" else dataset.atom_properties
    groups = shape_groups(numeric_columns(table, table.columns))
    base = choice_name(choice)
    if not is_tensor_choice(choice) or base not in groups:
        raise KeyError(f"no vector or tensor property {choice!r} in {dataset.name}")
    return np.column_stack([property_values(dataset, rows, f"{source}:{column}") for column in groups[base]])


def property_options(dataset: Dataset, per: str, *, numeric_only: bool = False) -> list[dict]:
    """Dropdown options for the properties of the rows (structure columns, then atom columns).

    A 3-vector (``forces[1..3]``) gets its length ``|forces|`` beside its components; per atom,
    the centre atom's element is offered first.
    """
    options = []
    table = dataset.structure_properties
    for column in property_columns(table):
        if column in ("structure", "atom") and dataset.structures is None:
            continue
        if numeric_only and not is_numeric(table[column]):
            continue
        options.append({"label": str(column), "value": f"structure:{column}"})
        if str(column).endswith("[3]") and str(column)[:-3] in _vectors(table.columns):
            options.append({"label": f"|{str(column)[:-3]}|", "value": f"structure:|{str(column)[:-3]}|"})
    if per == "atom" and dataset.structures is not None:
        if not numeric_only:
            options.insert(0, {"label": "element (centre atom)", "value": ELEMENT})
        atoms = dataset.atom_properties
        for column in property_columns(atoms):
            if column in ("structure", "atom"):
                continue
            if numeric_only and not is_numeric(atoms[column]):
                continue
            options.append({"label": f"{column} (atom)", "value": f"atom:{column}"})
            if str(column).endswith("[3]") and str(column)[:-3] in _vectors(atoms.columns):
                options.append({"label": f"|{str(column)[:-3]}| (atom)", "value": f"atom:|{str(column)[:-3]}|"})
    return options


def is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def first_numeric_property(dataset: Dataset, per: str) -> str | None:
    """The default target (and colour per structure): the first numeric property that varies,
    energies first (constant columns say nothing about the structures)."""
    rows = map_rows(dataset, per)
    options = property_options(dataset, per, numeric_only=True)
    options.sort(key=lambda o: "energy" not in o["label"].lower())  # stable: file order otherwise
    for option in options:
        values = property_values(dataset, rows, option["value"])
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() != finite.max():
            return option["value"]
    return None


def default_color(dataset: Dataset, per: str) -> str | None:
    """The map's default colour: the centre atom's element per atom, else the default target."""
    if per == "atom" and dataset.structures is not None:
        return ELEMENT
    return first_numeric_property(dataset, per)


def property_values(dataset: Dataset, rows: Rows, choice: str) -> np.ndarray:
    """Values of property ``choice`` ("structure:<col>" or "atom:<col>") for every row.

    Structure properties are repeated for every environment of a structure; an atom property in
    per-structure mode is not offered. Unknown choices raise KeyError.
    """
    source, _, name = choice.partition(":")
    if choice == ELEMENT and rows.atom is not None:
        return _centre_symbols(dataset, rows)
    if name.startswith("|") and name.endswith("|") and len(name) > 2:  # the length of a 3-vector
        parts = [property_values(dataset, rows, f"{source}:{name[1:-1]}[{k}]") for k in (1, 2, 3)]
        return np.sqrt(sum(p.astype(np.float64) ** 2 for p in parts))
    if source == "structure" and name in dataset.structure_properties.columns:
        column = dataset.structure_properties[name]
        values = column.to_numpy()[rows.structure] if dataset.structures is not None else column.to_numpy()
    elif source == "atom" and rows.atom is not None and name in dataset.atom_properties.columns:
        positions = atom_table_positions(dataset, rows)  # NaN where the atom has no row
        missing = np.isnan(positions)
        column = dataset.atom_properties[name]
        values = column.to_numpy()[np.where(missing, 0, positions).astype(np.int64)]
        if is_numeric(column):
            values = np.where(missing, np.nan, values.astype(np.float64))
    else:
        raise KeyError(f"no property {choice!r} in {dataset.name}")
    if pd.api.types.is_numeric_dtype(values.dtype) and values.dtype != bool:
        return values.astype(np.float64)
    return np.asarray(pd.Series(values).astype("string").fillna("").to_numpy(dtype=object))


def row_names(dataset: Dataset, rows: Rows) -> np.ndarray:
    """Hover names: the dataset's name/ID column when it has one, else "#<structure> <formula>".

    Kept on the (cached, never modified) dataset object: every map redraw needs them.
    """
    cache = dataset.__dict__.setdefault("_row_names", {})
    key = (rows.per, len(rows))
    if key not in cache:
        cache[key] = _row_names(dataset, rows)
    return cache[key]


def _row_names(dataset: Dataset, rows: Rows) -> np.ndarray:
    table = dataset.structure_properties
    for candidate in ("name", "NAME", "Name", "id", "ID", "smiles", "formula"):
        if candidate in table.columns:
            base = table[candidate].astype("string").fillna("").to_numpy(dtype=object)[rows.structure if dataset.structures is not None else slice(None)]
            break
    else:
        if dataset.structures is not None:  # one name per structure, then one per row
            structure_names = np.array([f"#{s} {a.get_chemical_formula()}" for s, a in enumerate(dataset.structures)], dtype=object)
            base = structure_names[rows.structure]
        else:
            base = _numbered("#", np.arange(len(rows)))
    if rows.atom is not None:
        symbols = _centre_symbols(dataset, rows) if len(rows) < 200_000 else np.full(len(rows), "atom", dtype=object)
        return base + " · " + symbols + _numbered("", rows.atom)  # object arrays: str + str per row
    return base


def _numbered(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """``prefix`` followed by each number, as an object array of ``str``."""
    return np.char.add(prefix, np.asarray(numbers).astype(str)).astype(object)
