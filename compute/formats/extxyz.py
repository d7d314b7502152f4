"""Extended XYZ (and plain XYZ): structures with their properties, many frames per file.

The reader goes through ASE's extended XYZ parser after a linear scan that checks each frame's
announced atom count against the lines that follow and the budget; ``key=_JSON ...`` values
are left out (listed as skipped). The writer, :func:`to_extxyz`, writes a selection back in a
form the reader reads with the same structures and properties; :func:`column_name` is the one
rule for turning a property name into an extended XYZ column name.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import ase
import ase.io
import numpy as np
import pandas as pd

from .. import budget
from ..datasets import DatasetError
from ._common import Parts, ase_iread, decode_text, structures_parts, within_budget
from ._registry import register
from ._writing import atom_rows, check_per, is_numeric, need_structures, per_row, row_count, selection

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["column_name", "read_extxyz", "to_extxyz"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


_JSON_KEY = re.compile(r"([^\s=\"']+)\s*=\s*[\"'{]?\s*_JSON")


def _check_xyz_frame_sizes(text: str, name: str) -> None:
    """Every frame's announced atom count fits in the lines that follow.

    ASE's reader trusts the count line: a tiny hostile file announcing 10¹² atoms would keep it
    reading empty lines for hours. This scan is linear in the file and stops that at once.
    """
    lines = text.splitlines()
    position, frame = 0, 0
    counts: list[int] = []
    total = 0
    limits = budget.current()
    while position < len(lines):
        head = lines[position].split()
        if not head:  # blank lines between or after frames: ASE decides whether it accepts them
            position += 1
            continue
        try:
            count = int(head[0])
        except ValueError:
            return  # not a count line: ASE's own error names the problem
        remaining = len(lines) - position - 2
        if count < 0 or count > remaining:
            raise DatasetError(
                f"{name}: frame {frame} (starting at line {position + 1}): expected {count} atoms but only "
                f"{max(remaining, 0)} lines follow. The file is truncated or the count is wrong."
            )
        counts.append(count)
        total += count
        if count > limits.max_atoms_per_structure or len(counts) > limits.max_structures or total > limits.max_atoms:
            within_budget(name, budget.check_counts, counts)
        position += count + 2
        frame += 1
    within_budget(name, budget.check_counts, counts)


def read_extxyz(data: bytes, name: str) -> Parts:
    text = decode_text(data)
    _check_xyz_frame_sizes(text, name)
    exclude = frozenset(_JSON_KEY.findall(text)) if "_JSON" in text else frozenset()
    frames = ase_iread(io.StringIO(text), "extxyz", name, "(extended) XYZ", count_lines=True)
    for atoms in frames:
        # a plain-XYZ free-text comment ("water, B3LYP") comes back as bare words set to True
        if atoms.info and all(v is True for v in atoms.info.values()):
            atoms.info = {}
    return structures_parts(frames, name, exclude)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------

# a column split from a vector, name[1], name[2], ...
_SPLIT = re.compile(r"^(.+)\[(\d+)\]$")
# extended XYZ column names must not contain spaces or the Properties separator ':'
_BAD_ARRAY_NAME = re.compile(r"[^A-Za-z0-9_\-\[\]]")


def column_name(name: str) -> str:
    """``name`` as an extended XYZ per-atom column name: every character other than letters,
    digits, ``_``, ``-`` and brackets becomes ``_``.

    Examples
    --------
    >>> column_name("charge: Mulliken"), column_name("forces[1]")
    ('charge__Mulliken', 'forces[1]')
    """
    return _BAD_ARRAY_NAME.sub("_", name)


# info keys and per-atom arrays that ASE's extended XYZ writer gives a meaning of its own
_RESERVED_INFO = frozenset({"Lattice", "Properties", "pbc"})
_RESERVED_ARRAYS = frozenset({"numbers", "positions", "species", "pos", "Z", "selected"})


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


def to_extxyz(dataset: Dataset, indices, *, per: str = "structure", extra_properties: Mapping | None = None) -> bytes:
    """The selected structures as an extended XYZ file, with their properties.

    Structure properties go to each frame's comment line (``info``); a value missing (NaN) in a
    frame is left out of that frame, and so is a per-atom array missing (all NaN) on a frame;
    columns ``name[1]``, ``name[2]``, ... are written back as one vector ``name``. Values that fit
    no table column (long text, JSON-encoded lists, kept in ``dataset.metadata["values"]``) are
    written back too. Atom properties become per-atom columns (names with spaces or ``:`` get
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
    per = check_per(per)
    need_structures(dataset, "extended XYZ")
    rows = selection(indices, row_count(dataset, per), "structure" if per == "structure" else "atom")
    extra = per_row(extra_properties, len(rows), "extra property")

    s_table = dataset.structure_properties
    a_table = dataset.atom_properties
    s_cols = [str(c) for c in s_table.columns]
    a_cols = [str(c) for c in a_table.columns if c not in ("structure", "atom")]

    if per == "structure":
        structures = rows
    else:
        sel_structure, sel_atom = atom_rows(dataset, rows)
        structures = np.unique(sel_structure)
    clash = [k for k in extra if k in (s_cols if per == "structure" else a_cols) or k in _RESERVED_INFO or k == "selected"]
    if clash:
        raise ValueError(f"extra property {clash[0]!r}: a property of that name already exists; choose another name")

    offsets = dataset.atom_offsets
    s_numeric = {c for c in s_cols if is_numeric(s_table[c])}
    a_numeric = {c for c in a_cols if is_numeric(a_table[c])}
    s_groups = [(k, cs) for k, cs in _grouped(s_cols, s_numeric) if k not in _RESERVED_INFO]
    a_groups = _grouped(a_cols, a_numeric)
    s_values = {c: s_table[c].to_numpy(dtype=object) if c not in s_numeric else s_table[c].to_numpy(dtype=float, na_value=np.nan) for c in s_cols}
    a_values = {c: a_table[c].to_numpy(dtype=object) if c not in a_numeric else a_table[c].to_numpy(dtype=float, na_value=np.nan) for c in a_cols}
    a_ints = {c for c in a_numeric if pd.api.types.is_integer_dtype(a_table[c])}

    # values that fit no table column (long text, JSON lists) go back to the frames' info
    kept = {k: v for k, v in ((dataset.metadata or {}).get("values") or {}).items() if k not in s_cols and k not in _RESERVED_INFO}
    # per-atom mode: each frame says which structure of the dataset it is
    source_key = "source_index"
    while source_key in s_cols or source_key in kept or source_key in extra:
        source_key = "source_" + source_key
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
        for key, column in kept.items():
            if column[i] is not None and key not in atoms.info:
                atoms.info[key] = column[i]
        if per == "structure":
            for k, v in extra.items():
                value = _scalar(v[j])
                if value is not None:
                    atoms.info[k] = value
        else:
            atoms.info[source_key] = int(i)
        lo, hi = int(offsets[i]), int(offsets[i + 1])
        used: set[str] = set()
        for key, cols in a_groups:
            name = column_name(key)
            if name in _RESERVED_ARRAYS or name in used:
                continue
            if len(cols) > 1:
                block = np.stack([a_values[c][lo:hi] for c in cols], axis=1)
                if np.isnan(block).all():  # absent from this frame (present on others): left out
                    continue
                atoms.arrays[name] = block
            elif cols[0] in a_numeric:
                block = a_values[cols[0]][lo:hi]
                if cols[0] not in a_ints and np.isnan(block).all():
                    continue
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
                name = column_name(k)
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


register("extxyz", "extended XYZ / XYZ", (".xyz", ".extxyz"), read_extxyz, to_extxyz, aliases=("xyz",))
