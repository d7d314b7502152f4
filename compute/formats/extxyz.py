"""Extended XYZ (and plain XYZ): structures with their properties, many frames per file.

The reader first runs a linear scan that checks each frame's announced atom count against the
lines that follow and the budget. It then parses with the libAtoms ``extxyz`` C parser (PyPI
``extxyz``) when it is installed, turning its frames into what ASE's extended XYZ reader makes of
the same text (:func:`_ase_like_frames`), and with ASE's reader otherwise, or when the C parser
refuses the file, or when the file uses what the two read differently (``[...]`` arrays,
``uid``, cell vectors as ``VEC`` lines): both paths give the same :class:`Dataset`.
``key=_JSON ...`` values are left out (listed as skipped). The writer, :func:`to_extxyz`, writes a selection back in a
form the reader reads with the same structures and properties; :func:`column_name` is the one
rule for turning a property name into an extended XYZ column name.
"""

from __future__ import annotations

import gc
import io
import os
import re
import tempfile
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


def _check_xyz_frame_sizes(text: str, name: str) -> list[str] | None:
    """Every frame's announced atom count fits in the lines that follow.

    ASE's reader trusts the count line: a tiny hostile file announcing 10¹² atoms would keep it
    reading empty lines for hours. This scan is linear in the file and stops that at once.
    Returns the frames' comment lines, or ``None`` when a line that should be a count is not one
    or a frame has no atoms (then only ASE's reader may read the file).
    """
    lines = text.splitlines()
    position, frame = 0, 0
    counts: list[int] = []
    comments: list[str] = []
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
            return None  # not a count line: ASE's own error names the problem
        remaining = len(lines) - position - 2
        if count < 0 or count > remaining:
            raise DatasetError(
                f"{name}: frame {frame} (starting at line {position + 1}): expected {count} atoms but only "
                f"{max(remaining, 0)} lines follow. The file is truncated or the count is wrong."
            )
        counts.append(count)
        comments.append(lines[position + 1])
        total += count
        if count > limits.max_atoms_per_structure or len(counts) > limits.max_structures or total > limits.max_atoms:
            within_budget(name, budget.check_counts, counts)
        position += count + 2
        frame += 1
    within_budget(name, budget.check_counts, counts)
    # a frame of zero atoms crashes the extxyz C parser (a segmentation fault in 0.4.6): None sends
    # the file to ASE, whose reader reads it and lets validation name the frame
    return comments if all(counts) else None


# what the C parser and ASE read differently on a comment line: new-style [..] arrays (ASE keeps
# them as text) and the raw `uid` ASE leaves unparsed; cell vectors given as VEC lines (ASE only)
# stop the count scan, so those files go to ASE too
_ASE_ONLY = re.compile(r"=[ \t]*\[|\buid[ \t]*=", re.IGNORECASE)


class _Results:
    """The results ASE's reader would hold in a SinglePointCalculator (energy, forces, ...),
    without the copy of the atoms that calculator makes: the tables only read ``.results``."""

    def __init__(self, results: dict):
        self.results = results


#: EXPLORER_NATIVE_XYZ=0 keeps the C parser out: it runs in the reading process, and a malformed
#: file it does not guard against (a frame of zero atoms was one) crashes that process. Scripts
#: reading their own files get the speed; the app sets 0 for untrusted uploads (explorer.state).
NATIVE_XYZ_VARIABLE = "EXPLORER_NATIVE_XYZ"


def native_parser_enabled() -> bool:
    """Whether extended XYZ may go through the extxyz C parser (``EXPLORER_NATIVE_XYZ``, default on)."""
    return os.environ.get(NATIVE_XYZ_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def _ase_like_frames(text: str, comments: list[str] | None) -> list[ase.Atoms] | None:
    """The frames of ``text`` through the extxyz C parser, as ASE's extxyz reader builds them
    (same numbers, positions, cell, pbc, info, arrays and calculator results); ``None`` when the
    C parser is not installed or refuses the text, or the frames' ``comments`` hold what the two
    parsers read differently (``None``: the count scan stopped), so that ASE reads it."""
    if not native_parser_enabled():
        return None
    try:
        from extxyz import cextxyz
    except ImportError:
        return None
    if comments is None:
        return None
    joined = "\n".join(comments)
    if ("[" in joined or "uid" in joined.lower()) and _ASE_ONLY.search(joined):  # substring tests first: cheaper
        return None
    from ase.calculators.calculator import all_properties
    from ase.data import atomic_numbers
    from ase.io.extxyz import REV_PROPERTY_NAME_MAP, SPECIAL_3_3_KEYS, per_config_properties

    config_results = set(per_config_properties)
    results_names = set(all_properties)
    raw: list[tuple] = []
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.xyz")  # the C parser reads a FILE*, not Python bytes
        with open(path, "w", encoding="utf-8") as fd:
            fd.write(text)
        fp = cextxyz.cfopen(path, "r")
        if not fp:
            return None
        try:
            while True:
                try:
                    raw.append(cextxyz.read_frame_dicts(fp, use_cleri=False))
                except EOFError:
                    break
        except Exception:  # noqa: BLE001 -- whatever the C parser refuses, ASE reads (or names the error)
            return None
        finally:
            cextxyz.cfclose(fp)
    try:
        numbers = _numbers([{REV_PROPERTY_NAME_MAP.get(k, k): v for k, v in arrays.items()} for _, _, arrays in raw], atomic_numbers)
        return [_ase_frame(natoms, info, arrays, z, REV_PROPERTY_NAME_MAP, SPECIAL_3_3_KEYS, config_results, results_names)
                for (natoms, info, arrays), z in zip(raw, numbers)]
    except Exception:  # noqa: BLE001 -- a frame ASE would refuse: its reader gives the message
        return None


def _numbers(columns: list[dict], atomic_numbers: dict) -> list[np.ndarray]:
    """Atomic numbers of every frame: its ``Z`` column, or its ``species`` symbols (capitalised,
    as ASE reads them) looked up once per distinct symbol over the whole file."""
    symbols = [c["symbols"] for c in columns if "numbers" not in c]
    if symbols:
        distinct, inverse = np.unique(np.concatenate(symbols).astype(str), return_inverse=True)
        table = np.array([atomic_numbers[s.capitalize()] for s in distinct.tolist()], dtype=np.int64)
        looked_up = iter(np.split(table[inverse.reshape(-1)], np.cumsum([len(s) for s in symbols])[:-1]))
    return [np.asarray(c["numbers"], dtype=np.int64) if "numbers" in c else next(looked_up) for c in columns]


def _ase_frame(natoms, info, arrays, numbers, rename, special_3_3, config_results, results_names) -> ase.Atoms:
    """One C-parsed frame as ASE's ``_read_xyz_frame`` builds it (ase/io/extxyz.py)."""
    info.pop("Properties", None)
    lattice = info.pop("Lattice", None)
    pbc = info.pop("pbc", None)
    if pbc is None:  # ASE: periodic along all three axes when a lattice is given, else not
        pbc = lattice is not None
    for key, value in info.items():
        if isinstance(value, np.ndarray) and value.shape == (3, 3) and key not in special_3_3:
            # the C parser shapes every old-style 9-vector as a 3x3 (column-major) matrix; ASE keeps
            # the 9-vector except for Lattice, virial and stress
            info[key] = value.reshape(9, order="F")
        elif isinstance(value, str) and value.startswith("_JSON "):
            import json

            decoded = json.loads(value.replace("_JSON ", "", 1))
            as_array = np.array(decoded)
            info[key] = as_array if as_array.dtype.kind in "ifb" else decoded
        elif key in special_3_3 and not (isinstance(value, np.ndarray) and value.shape == (3, 3)):
            raise ValueError(f"{key} is not a 3x3 matrix")  # ASE refuses it: its error is the one shown
    columns = {rename.get(k, k): v for k, v in arrays.items()}
    columns.pop("numbers", None)
    columns.pop("symbols", None)
    atoms = ase.Atoms(numbers=numbers, positions=columns.pop("positions"),
                      cell=None if lattice is None else np.ascontiguousarray(np.asarray(lattice, dtype=float).T), pbc=pbc)
    if len(atoms) != natoms:
        raise ValueError("atom count")
    atoms.info = info
    columns.pop("move_mask", None)  # a constraint in ASE, which the tables drop
    results = {}
    for key, value in columns.items():
        if key in results_names:
            results[key] = value
        else:
            atoms.arrays[key] = value
    for key in [k for k in info if k in config_results]:
        value = info.pop(key)
        if key == "stress" and np.shape(value) == (3, 3):  # Voigt order, as ASE stores it
            value = np.array([value[0, 0], value[1, 1], value[2, 2], value[1, 2], value[0, 2], value[0, 1]])
        results[key] = value
    if results:
        atoms.calc = _Results(results)
    return atoms


def read_extxyz(data: bytes, name: str) -> Parts:
    text = decode_text(data)
    comments = _check_xyz_frame_sizes(text, name)
    exclude = frozenset(_JSON_KEY.findall(text)) if "_JSON" in text else frozenset()
    # tens of thousands of frames are hundreds of thousands of new objects, none in a cycle: the
    # cyclic collector would walk them again and again (a quarter of the time), so it waits
    collecting = gc.isenabled()
    gc.disable()
    try:
        frames = _ase_like_frames(text, comments)
        if frames is None:
            frames = ase_iread(io.StringIO(text), "extxyz", name, "(extended) XYZ", count_lines=True)
        for atoms in frames:
            # a plain-XYZ free-text comment ("water, B3LYP") comes back as bare words set to True
            if atoms.info and all(v is True for v in atoms.info.values()):
                atoms.info = {}
        return structures_parts(frames, name, exclude)
    finally:
        if collecting:
            gc.enable()


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
