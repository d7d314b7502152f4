"""Read datasets of atomic structures (or of precomputed features) into one :class:`Dataset`.

One registry, :data:`FORMATS`, maps each format to its reader and file-name extensions, in the
spirit of ASE's ``ase.io.formats``; :func:`read_dataset` picks the reader from ``format=`` or from
the file name and never tries one reader after another. Supported:

==============  =========================================================  =======================
format          files                                                      content
==============  =========================================================  =======================
``extxyz``      ``.xyz``, ``.extxyz`` (also ``.gz``)                       structures, many frames
``cif``         ``.cif``                                                   structures
``vasp``        ``POSCAR*``, ``CONTCAR*``, ``.vasp``, ``.poscar``           one structure
``traj``        ``.traj`` (ASE trajectory)                                 structures
``db``          ``.db`` (ASE SQLite database)                              structures
``chemiscope``  ``.json``, ``.json.gz`` (chemiscope input)                 structures, properties,
                                                                           environments
``csv``         ``.csv``                                                   features + properties
``npz``         ``.npz``                                                   features + properties
==============  =========================================================  =======================

Properties of structures come from ``atoms.info``, ``atoms.arrays`` and ``atoms.calc.results``
(ASE moves ``energy``, ``forces``, ``stress``, ... there when it reads an extended XYZ file).
Vectors and tensors are flattened (row-major) and split into ``name[1]``, ``name[2]``, ...
(chemiscope's convention, 1-based). Strings and booleans become categorical columns. A property
missing on some structures is NaN there; the structure is never dropped. Values that do not fit a
table (text longer than :data:`MAX_TEXT_LENGTH` characters, JSON-encoded lists, arrays with more
than :data:`MAX_COMPONENTS` components, arrays whose shape changes between structures, dicts,
objects) are left out and listed in :attr:`Dataset.skipped_properties` with the reason.

Features tables
---------------
*NPZ*: the key ``features`` (a 2-D numeric array, one row per sample) is required; an optional
``feature_names`` holds one string per column; every other 1-D array with one value per row
becomes a property column (``structure`` and ``atom`` index columns included, as written by
``structure-explorer featurize``). Other arrays are skipped (and listed in
``skipped_properties``). Files are loaded with ``allow_pickle=False``: object arrays are refused.

*CSV*: one row per sample, a header line. **Feature columns** are recognised as follows:

1. if any column name starts with ``feature`` (case-insensitive: ``feature[1]``, ``feature_0``,
   ``features: C-H l=0 n=1``, ...), exactly those columns are the features (they must be
   numeric) and every other column is a property;
2. otherwise every numeric column except the index columns ``structure`` and ``atom`` is a
   feature, and every column (numeric ones included) is also kept as a property, so that the map
   can be coloured by any of them.

Safety
------
Nothing is unpickled or evaluated: JSON goes through :func:`json.loads`, NPZ through
``np.load(allow_pickle=False)``. An upload's file name is only used to detect the format and in
messages, never as a path: ASE formats that need a real file (``.traj``, ``.db``) get the bytes
written into a fresh temporary directory under a fixed name, deleted afterwards. Inputs larger
than the size limit (also after gzip decompression) are refused before parsing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import numbers
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Callable

import ase
import ase.io
import numpy as np
import pandas as pd
from ase.data import atomic_numbers, chemical_symbols

from . import budget

__all__ = [
    "DEFAULT_MAX_BYTES",
    "FORMATS",
    "MAX_COMPONENTS",
    "MAX_TEXT_LENGTH",
    "Dataset",
    "DatasetError",
    "FormatSpec",
    "detect_format",
    "read_dataset",
]

#: Default size limit of an input, in bytes (overridden by ``EXPLORER_MAX_UPLOAD_MB`` when set).
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Strings longer than this are free text, not a category, and are left out of the tables.
MAX_TEXT_LENGTH = 100
#: Vectors/tensors with more components than this are left out of the tables.
MAX_COMPONENTS = 16

# arrays/info entries that are ASE bookkeeping rather than properties
_ASE_ARRAYS = frozenset({"numbers", "positions", "species", "spacegroup_kinds"})
_ASE_INFO = frozenset({"spacegroup", "unit_cell", "occupancy", "pbc", "cell"})
# calculator results with one row per atom (ase.outputs)
_PER_ATOM_RESULTS = frozenset({"forces", "energies", "stresses", "charges", "magmoms"})
_INDEX_COLUMNS = ("structure", "atom")


class DatasetError(ValueError):
    """A file cannot be read as a dataset.

    The message names the file, the frame or line when known, the problem, and what to do.
    """


# --------------------------------------------------------------------------------------------
# the dataset
# --------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Structures (or a features table) with their properties.

    Attributes
    ----------
    name : str
        Display name (the file name, never a server path).
    structures : list of ase.Atoms or None
        Plain structures (numbers, positions, cell, pbc; no calculator, no info); ``None`` for a
        features table.
    structure_properties : pandas.DataFrame
        One row per structure (or per row of a features table).
    atom_properties : pandas.DataFrame
        Columns ``structure``, ``atom``, then properties; one row per atom.
    features : numpy.ndarray or None
        Precomputed features ``(n_rows, n_features)`` from a features table.
    feature_names : list of str or None
        One name per feature column.
    environments : pandas.DataFrame or None
        Chemiscope environments: columns ``structure``, ``center``, ``cutoff``.
    content_hash : str
        SHA-256 (hex) of the raw bytes of the file.
    format : str
        Name of the format in :data:`FORMATS` the file was read as.
    skipped_properties : dict of str to str
        Properties left out of the tables, with the reason.
    """

    name: str
    structures: list[ase.Atoms] | None
    structure_properties: pd.DataFrame
    atom_properties: pd.DataFrame
    features: np.ndarray | None = None
    feature_names: list[str] | None = None
    environments: pd.DataFrame | None = None
    content_hash: str = ""
    format: str = ""
    skipped_properties: dict[str, str] = field(default_factory=dict)

    @property
    def n_structures(self) -> int:
        """Number of structures; for a features table, its number of rows."""
        if self.structures is not None:
            return len(self.structures)
        return len(self.structure_properties)

    @property
    def n_atoms(self) -> int:
        """Total number of atoms (0 for a features table)."""
        if self.structures is None:
            return 0
        return int(sum(len(a) for a in self.structures))

    @property
    def elements(self) -> list[str]:
        """Sorted chemical symbols present in the structures."""
        if not self.structures:
            return []
        numbers_ = np.unique(np.concatenate([a.numbers for a in self.structures]))
        return sorted(chemical_symbols[z] for z in numbers_)

    @property
    def periodic(self) -> str:
        """``"periodic"``, ``"non-periodic"``, ``"mixed"`` or ``"none"`` (no structures)."""
        if not self.structures:
            return "none"
        flags = {bool(a.pbc.any()) for a in self.structures}
        if flags == {True}:
            return "periodic"
        if flags == {False}:
            return "non-periodic"
        return "mixed"

    def summary(self) -> dict:
        """A JSON-serialisable summary for the app.

        Examples
        --------
        >>> ds = read_dataset(b"1\\nenergy=-1.5\\nHe 0 0 0\\n", name="he.xyz")
        >>> s = ds.summary()
        >>> s["n_structures"], s["n_atoms"], s["elements"], s["structure_properties"]
        (1, 1, ['He'], ['energy'])
        """
        atom_cols = [c for c in self.atom_properties.columns if c not in _INDEX_COLUMNS]
        return {
            "name": self.name,
            "format": self.format,
            "content_hash": self.content_hash,
            "has_structures": self.structures is not None,
            "n_structures": self.n_structures,
            "n_atoms": self.n_atoms,
            "elements": self.elements,
            "periodic": self.periodic,
            "structure_properties": [str(c) for c in self.structure_properties.columns],
            "atom_properties": [str(c) for c in atom_cols],
            "n_features": 0 if self.features is None else int(self.features.shape[1]),
            "n_environments": 0 if self.environments is None else len(self.environments),
            "skipped_properties": dict(self.skipped_properties),
        }


@dataclass
class _Parts:
    """What a reader returns; :func:`read_dataset` adds name, hash and format."""

    structures: list[ase.Atoms] | None
    structure_properties: pd.DataFrame
    atom_properties: pd.DataFrame
    features: np.ndarray | None = None
    feature_names: list[str] | None = None
    environments: pd.DataFrame | None = None
    skipped: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# turning values into table columns
# --------------------------------------------------------------------------------------------


def _is_text(v) -> bool:
    return isinstance(v, (str, np.str_))


def _is_flag(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Real, np.integer, np.floating)) and not _is_flag(v)


def _categorical(values: np.ndarray) -> pd.Categorical:
    """Object array (None where missing) -> categorical."""
    return pd.Categorical(values)


def _columns_from_values(key: str, rows: np.ndarray, values: list, n_rows: int, skipped: dict) -> dict:
    """Columns for property ``key`` with ``values[j]`` belonging to row ``rows[j]``.

    Scalars -> one column (float with NaN where missing, int when complete); strings/bools ->
    categorical; equal-shaped numeric arrays -> ``key[1]``, ``key[2]``, ...; anything else is
    recorded in ``skipped`` and gives no column.
    """
    if all(_is_number(v) for v in values):
        arr = np.asarray(values)
        if arr.dtype.kind in "iu" and len(values) == n_rows:
            col = np.empty(n_rows, dtype=np.int64)
        else:
            col = np.full(n_rows, np.nan)
        col[rows] = arr
        return {key: col}
    if all(_is_text(v) or _is_flag(v) or _is_number(v) for v in values):
        texts = [v for v in values if _is_text(v)]
        if any(len(t) > MAX_TEXT_LENGTH for t in texts):
            skipped[key] = f"long text (more than {MAX_TEXT_LENGTH} characters)"
            return {}
        if any(t.lstrip().startswith(("_JSON", "[", "{")) for t in texts):
            skipped[key] = "JSON-encoded value in a string"
            return {}
        kinds = {type(v) for v in values}
        if texts and len(kinds) > 1:  # strings mixed with numbers/flags: all as text
            values = [str(v) for v in values]
        col = np.full(n_rows, None, dtype=object)
        col[rows] = [bool(v) if _is_flag(v) else v for v in values]
        return {key: _categorical(col)}
    # arrays
    arrays = []
    for v in values:
        if not isinstance(v, (list, tuple, np.ndarray)):
            skipped[key] = f"not a number, a string or an array ({type(v).__name__})"
            return {}
        try:
            a = np.asarray(v)
        except ValueError:  # ragged nested lists
            skipped[key] = "nested lists of different lengths"
            return {}
        if a.dtype.kind not in "biuf":
            skipped[key] = "array of non-numeric values"
            return {}
        arrays.append(a)
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        skipped[key] = "arrays of different shapes in different structures"
        return {}
    size = arrays[0].size
    if size == 0 or size > MAX_COMPONENTS:
        skipped[key] = f"array with {size} components (at most {MAX_COMPONENTS} are split into columns)"
        return {}
    block = np.stack([a.reshape(-1) for a in arrays]).astype(float)
    if size == 1:
        col = np.full(n_rows, np.nan)
        col[rows] = block[:, 0]
        return {key: col}
    out = np.full((n_rows, size), np.nan)
    out[rows] = block
    return {f"{key}[{j + 1}]": out[:, j] for j in range(size)}


def _atom_columns(key: str, items: list, counts: np.ndarray, offsets: np.ndarray, skipped: dict) -> dict:
    """Columns for a per-atom array ``key``; ``items`` are ``(frame, array)`` with one row per atom."""
    n_total = int(offsets[-1])
    arrays = []
    for i, v in items:
        a = np.asarray(v)
        if a.ndim == 0 or a.shape[0] != counts[i]:
            skipped[key] = f"per-atom value without one entry per atom (structure {i})"
            return {}
        arrays.append(a.reshape(counts[i], -1))
    widths = {a.shape[1] for a in arrays}
    kinds = {a.dtype.kind for a in arrays}
    if len(widths) > 1:
        skipped[key] = "per-atom arrays of different shapes in different structures"
        return {}
    width = widths.pop()
    if kinds <= set("biuf") and kinds != {"b"}:
        if width == 0 or width > MAX_COMPONENTS:
            skipped[key] = f"per-atom array with {width} components (at most {MAX_COMPONENTS})"
            return {}
        complete = len(items) == len(counts)
        if kinds <= set("iu") and complete:
            out = np.concatenate(arrays).astype(np.int64)
        else:
            out = np.full((n_total, width), np.nan)
            for (i, _), a in zip(items, arrays):
                out[offsets[i] : offsets[i + 1]] = a
        if width == 1:
            return {key: out[:, 0]}
        return {f"{key}[{j + 1}]": out[:, j] for j in range(width)}
    if width == 1 and kinds <= set("USOb"):
        col = np.full(n_total, None, dtype=object)
        for (i, _), a in zip(items, arrays):
            vals = a[:, 0]
            if vals.dtype.kind == "S":
                vals = np.char.decode(vals, "utf-8", "replace")
            if vals.dtype.kind == "O" and not all(_is_text(v) or _is_flag(v) for v in vals):
                skipped[key] = "per-atom objects that are neither numbers nor strings"
                return {}
            col[offsets[i] : offsets[i + 1]] = vals.tolist()
        texts = [v for v in col if _is_text(v)]
        if any(len(t) > MAX_TEXT_LENGTH for t in texts):
            skipped[key] = f"long text (more than {MAX_TEXT_LENGTH} characters)"
            return {}
        return {key: _categorical(col)}
    skipped[key] = "per-atom values that are neither numbers nor strings"
    return {}


def _add_columns(table: dict, new: dict, key: str, skipped: dict, reserved=()) -> None:
    clash = [c for c in new if c in table or c in reserved]
    if clash:
        skipped[key] = f"column name {clash[0]!r} is already used"
        return
    table.update(new)


def _index_columns(counts: np.ndarray) -> dict:
    offsets = np.concatenate([[0], np.cumsum(counts)])
    structure = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    atom = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], counts)
    return {"structure": structure, "atom": atom}


def _tables_from_frames(frames: list[ase.Atoms], exclude: frozenset = frozenset()) -> tuple:
    """Property tables (structure, atom, skipped) from ASE frames, built column-wise."""
    n = len(frames)
    counts = np.fromiter((len(a) for a in frames), dtype=np.int64, count=n)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    per_structure: dict[str, tuple[list, list]] = {}
    per_atom: dict[str, list] = {}
    for i, atoms in enumerate(frames):
        for k, v in atoms.info.items():
            if k not in _ASE_INFO:
                rows, vals = per_structure.setdefault(k, ([], []))
                rows.append(i)
                vals.append(v)
        for k, v in atoms.arrays.items():
            if k not in _ASE_ARRAYS:
                per_atom.setdefault(k, []).append((i, v))
        calc = atoms.calc
        results = getattr(calc, "results", None) or {}
        for k, v in results.items():
            if k in _PER_ATOM_RESULTS and np.ndim(v) >= 1 and len(v) == counts[i]:
                per_atom.setdefault(k, []).append((i, v))
            else:
                rows, vals = per_structure.setdefault(k, ([], []))
                rows.append(i)
                vals.append(v)
    skipped: dict[str, str] = {}
    s_table: dict = {}
    for k, (rows, vals) in per_structure.items():
        if k in exclude:
            skipped[k] = "JSON-encoded value in a string"
            continue
        _add_columns(s_table, _columns_from_values(k, np.asarray(rows), vals, n, skipped), k, skipped)
    a_table = _index_columns(counts)
    for k, items in per_atom.items():
        _add_columns(a_table, _atom_columns(k, items, counts, offsets, skipped), k, skipped)
    return pd.DataFrame(s_table, index=pd.RangeIndex(n)), pd.DataFrame(a_table), skipped


# --------------------------------------------------------------------------------------------
# validation shared by the structure readers
# --------------------------------------------------------------------------------------------


def _within_budget(name: str, check, *args, **kwargs) -> None:
    """Run a :mod:`compute.budget` check; its refusal becomes a DatasetError naming the file."""
    try:
        check(budget.current(), *args, **kwargs)
    except budget.BudgetError as exc:
        raise DatasetError(f"{name}: {exc}.") from None


def _validate_frames(frames: list[ase.Atoms], name: str, what: str = "frame") -> None:
    if not frames:
        raise DatasetError(f"{name}: the file contains no structures. Check that it is not empty and is in the format its name says.")
    _within_budget(name, budget.check_counts, [len(atoms) for atoms in frames])
    for i, atoms in enumerate(frames):
        if len(atoms) == 0:
            raise DatasetError(f"{name}: {what} {i} has zero atoms. Remove that {what} or fix its atom count.")
        if not np.isfinite(atoms.positions).all():
            raise DatasetError(f"{name}: {what} {i} has NaN or infinite positions. Fix or remove that {what}.")
        cell = np.asarray(atoms.cell)
        if not np.isfinite(cell).all():
            raise DatasetError(f"{name}: {what} {i} has a NaN or infinite cell. Fix its lattice vectors.")
        lengths = np.linalg.norm(cell, axis=1)
        bad = [ax for ax in range(3) if atoms.pbc[ax] and lengths[ax] == 0.0]
        if bad:
            axes = ", ".join("abc"[ax] for ax in bad)
            raise DatasetError(
                f"{name}: {what} {i} is periodic along {axes} (pbc={atoms.pbc.tolist()}) but its cell vector"
                f" there is zero (cell/pbc mismatch). Give a lattice (e.g. Lattice=\"...\" in extended XYZ)"
                f" or set pbc=\"F F F\" for a molecule."
            )
    _within_budget(name, budget.check_frames, frames, what=what)


def _plain(atoms: ase.Atoms) -> ase.Atoms:
    """Strip an Atoms object down to numbers, positions, cell and pbc (in place)."""
    for k in list(atoms.arrays):
        if k not in ("numbers", "positions"):
            del atoms.arrays[k]
    atoms.info = {}
    atoms.calc = None
    atoms.constraints = []
    return atoms


def _structures_parts(frames: list[ase.Atoms], name: str, exclude=frozenset()) -> _Parts:
    _validate_frames(frames, name)
    s_props, a_props, skipped = _tables_from_frames(frames, exclude)
    return _Parts([_plain(a) for a in frames], s_props, a_props, skipped=skipped)


# --------------------------------------------------------------------------------------------
# readers (one per format; each catches its parser's exceptions in one place)
# --------------------------------------------------------------------------------------------

_JSON_KEY = re.compile(r"([^\s=\"']+)\s*=\s*[\"'{]?\s*_JSON")


def _text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _ase_iread(source, ase_format: str, name: str, label: str, count_lines: bool = False) -> list[ase.Atoms]:
    """All frames of ``source`` through ASE, with the failing frame (and line) in the error."""
    frames: list[ase.Atoms] = []
    line = 1
    try:
        for atoms in ase.io.iread(source, index=":", format=ase_format):
            frames.append(atoms)
            line += len(atoms) + 2
    except Exception as exc:  # noqa: BLE001 -- the parser's errors, whatever their type, in one place
        where = f"frame {len(frames)}" + (f" (starting at line {line})" if count_lines else "")
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise DatasetError(
            f"{name}: cannot read {where} as {label}: {detail}. The frame is truncated or malformed;"
            f" fix or remove it and upload the file again."
        ) from exc
    return frames


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
            _within_budget(name, budget.check_counts, counts)
        position += count + 2
        frame += 1
    _within_budget(name, budget.check_counts, counts)


def _read_extxyz(data: bytes, name: str) -> _Parts:
    text = _text(data)
    _check_xyz_frame_sizes(text, name)
    exclude = frozenset(_JSON_KEY.findall(text)) if "_JSON" in text else frozenset()
    frames = _ase_iread(io.StringIO(text), "extxyz", name, "(extended) XYZ", count_lines=True)
    for atoms in frames:
        # a plain-XYZ free-text comment ("water, B3LYP") comes back as bare words set to True
        if atoms.info and all(v is True for v in atoms.info.values()):
            atoms.info = {}
    return _structures_parts(frames, name, exclude)


def _read_cif(data: bytes, name: str) -> _Parts:
    return _structures_parts(_ase_iread(io.BytesIO(data), "cif", name, "CIF"), name)


def _check_poscar_atom_count(text: str, name: str) -> None:
    """The atom counts (line 6, or 7 after the element names) fit in the file and the budget,
    before ASE allocates arrays for them: a 58-byte file announcing ``+1000000000`` atoms must not
    take the memory."""
    lines = text.splitlines()
    for candidate in lines[5:7]:
        fields = candidate.split()
        if not fields or not all(re.fullmatch(r"[+-]?\d+", f) for f in fields):
            continue
        counts = [int(f) for f in fields]
        if any(c < 0 for c in counts):
            raise DatasetError(f"{name}: negative atom count on line {lines.index(candidate) + 1} ({candidate.strip()!r}).")
        _within_budget(name, budget.check_counts, [sum(counts)])
        if sum(counts) > len(lines):
            raise DatasetError(
                f"{name}: announces {sum(counts)} atoms but has only {len(lines)} lines: the file is"
                " truncated or the counts are wrong."
            )
        return


def _read_vasp(data: bytes, name: str) -> _Parts:
    text = _text(data)
    _check_poscar_atom_count(text, name)
    return _structures_parts(_ase_iread(io.StringIO(text), "vasp", name, "POSCAR/CONTCAR"), name)


def _read_traj(data: bytes, name: str) -> _Parts:
    if not data.startswith((b"- of Ulm", b"AFFormat")):
        raise DatasetError(
            f"{name}: not an ASE trajectory (ULM) file. Old pickle-based trajectories are refused;"
            f" convert them with `python -m ase.io.trajectory` on a trusted machine."
        )
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.traj")
        with open(path, "wb") as fd:
            fd.write(data)
        frames = _ase_iread(path, "traj", name, "ASE trajectory")
    return _structures_parts(frames, name)


def _check_plain_sqlite(path: str, name: str) -> None:
    """An ASE database holds tables and indices only: a view or trigger runs the uploader's SQL
    (a recursive view pinned a core for good), so the file is refused before ASE queries it.
    Its row count is checked against the budget too."""
    import sqlite3

    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            kinds = connection.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'trigger')").fetchall()
            if kinds:
                kind, what = kinds[0]
                raise DatasetError(f"{name}: the database defines a {kind} ({what[:60]!r}); an ASE database has only tables."
                                   " Export the structures with ase.db from a trusted copy.")
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "systems" not in tables:
                raise DatasetError(f"{name}: not an ASE database (it has no 'systems' table).")
            (rows,) = connection.execute("SELECT count(*) FROM systems").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise DatasetError(f"{name}: cannot read the SQLite database ({exc}).") from None
    limits = budget.current()
    if rows > limits.max_structures:  # refused from the count alone: no array of that length is made
        raise DatasetError(f"{name}: {limits.refuse('max_structures', 'the number of structures', rows)}.")


def _read_db(data: bytes, name: str) -> _Parts:
    import ase.db

    if not data.startswith(b"SQLite format 3\x00"):
        raise DatasetError(f"{name}: not an ASE SQLite database (.db). Check the file or give the right format.")
    frames: list[ase.Atoms] = []
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.db")
        with open(path, "wb") as fd:
            fd.write(data)
        _check_plain_sqlite(path, name)
        try:
            with ase.db.connect(path, type="db", use_lock_file=False, serial=True) as db:
                for row in db.select():
                    atoms = row.toatoms()
                    atoms.info.update(row.key_value_pairs)
                    frames.append(atoms)
        except Exception as exc:  # noqa: BLE001 -- sqlite and ASE errors, in one place
            raise DatasetError(
                f"{name}: cannot read row {len(frames)} of the ASE database: {type(exc).__name__}: {exc}."
                f" Check that it was written by ase.db and is not damaged."
            ) from exc
    return _structures_parts(frames, name)


def _read_chemiscope(data: bytes, name: str) -> _Parts:
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
        _within_budget(name, budget.check_counts, sizes)
        structures = [_chemiscope_structure(s, j, name) for j, s in enumerate(raw_structures)]
        _validate_frames(structures, name, what="structure")

    raw_properties = doc.get("properties") or {}
    if not isinstance(raw_properties, dict):
        raise DatasetError(f"{name}: 'properties' must be an object mapping names to {{target, values}}.")
    counts = np.array([len(a) for a in structures], dtype=np.int64) if structures is not None else None
    n_atoms = int(counts.sum()) if counts is not None else 0

    environments = None
    env_rows = None
    if doc.get("environments") is not None:
        environments = _chemiscope_environments(doc["environments"], counts, name)
        offsets = np.concatenate([[0], np.cumsum(counts)])
        env_rows = offsets[environments["structure"].to_numpy()] + environments["center"].to_numpy()

    n_structures = len(structures) if structures is not None else None
    skipped: dict[str, str] = {}
    s_table: dict = {}
    a_table: dict = _index_columns(counts if counts is not None else np.zeros(0, np.int64))
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
            _add_columns(s_table, _columns_from_values(key, np.arange(len(values)), values, n_structures, skipped), key, skipped)
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
            _add_columns(a_table, _columns_from_values(key, rows, values, n_atoms, skipped), key, skipped, reserved=_INDEX_COLUMNS)
        else:
            raise DatasetError(f"{name}: property {key!r} has target {target!r}; expected 'structure' or 'atom'.")
    if structures is None and not s_table:
        raise DatasetError(f"{name}: the chemiscope file has neither structures nor properties.")
    return _Parts(
        structures,
        pd.DataFrame(s_table, index=pd.RangeIndex(n_structures or 0)),
        pd.DataFrame(a_table),
        environments=environments,
        skipped=skipped,
    )


def _chemiscope_structure(s, j: int, name: str) -> ase.Atoms:
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


def _features_parts(name: str, features: np.ndarray, feature_names: list[str], props: dict, skipped: dict) -> _Parts:
    if features.ndim != 2 or features.shape[1] == 0 or features.shape[0] == 0:
        raise DatasetError(f"{name}: no numeric features found (features of shape {features.shape}). {_FEATURES_HELP}")
    bad = ~np.isfinite(features)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(f"{name}: feature {feature_names[c]!r} of row {r} is NaN or infinite. Features must be finite numbers.")
    return _Parts(
        None,
        pd.DataFrame(props, index=pd.RangeIndex(features.shape[0])),
        pd.DataFrame({"structure": np.zeros(0, np.int64), "atom": np.zeros(0, np.int64)}),
        features=features,
        feature_names=feature_names,
        skipped=skipped,
    )


_FEATURES_HELP = (
    "A features table needs numeric feature columns (CSV: columns named 'feature...', or numeric columns;"
    " NPZ: a 2-D numeric array under the key 'features')."
)


def _read_csv(data: bytes, name: str) -> _Parts:
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
        feature_cols = [c for c in numeric if c not in _INDEX_COLUMNS]
        prop_cols = columns
    if not feature_cols:
        raise DatasetError(f"{name}: no numeric feature columns. {_FEATURES_HELP}")
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
    return _features_parts(name, features, feature_cols, props, skipped)


def _check_npz_members(data: bytes, name: str, limit: int) -> None:
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
        raise _too_large(name, inflated, limit, " (its arrays, decompressed)")


def _read_npz(data: bytes, name: str) -> _Parts:
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
        raise DatasetError(f"{name}: no 'features' array (keys: {sorted(arrays)}). {_FEATURES_HELP}")
    features = arrays.pop("features")
    if features.ndim != 2 or features.dtype.kind not in "iuf":
        raise DatasetError(f"{name}: 'features' must be a 2-D numeric array, got shape {features.shape} of dtype {features.dtype}. {_FEATURES_HELP}")
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
    return _features_parts(name, features.astype(float, copy=False), feature_names, props, skipped)


# --------------------------------------------------------------------------------------------
# the registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormatSpec:
    """One entry of :data:`FORMATS`."""

    name: str
    description: str
    reader: Callable[[bytes, str], _Parts]
    extensions: tuple[str, ...]
    #: file-name prefixes (upper case) that select this format, e.g. ``POSCAR``
    prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: whether a gzip-compressed file is decompressed before reading
    gzip: bool = True


#: The format registry: format name -> :class:`FormatSpec` (reader, extensions, aliases).
FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("extxyz", "extended XYZ / XYZ", _read_extxyz, (".xyz", ".extxyz"), aliases=("xyz",)),
        FormatSpec("cif", "CIF", _read_cif, (".cif",)),
        FormatSpec("vasp", "VASP POSCAR/CONTCAR", _read_vasp, (".vasp", ".poscar"), prefixes=("POSCAR", "CONTCAR"), aliases=("poscar", "contcar")),
        FormatSpec("traj", "ASE trajectory", _read_traj, (".traj",), aliases=("trajectory",), gzip=False),
        FormatSpec("db", "ASE database", _read_db, (".db",), aliases=("ase-db", "sqlite"), gzip=False),
        FormatSpec("chemiscope", "chemiscope JSON", _read_chemiscope, (".json",), aliases=("json",)),
        FormatSpec("csv", "CSV features table", _read_csv, (".csv",)),
        FormatSpec("npz", "NPZ features table", _read_npz, (".npz",), gzip=False),
    )
}

_LOOKUP: dict[str, str] = {}
for _spec in FORMATS.values():
    for _key in (_spec.name, *_spec.aliases, *_spec.extensions, *(e.lstrip(".") for e in _spec.extensions)):
        _LOOKUP.setdefault(_key, _spec.name)


def _supported() -> str:
    exts = sorted({e for s in FORMATS.values() for e in s.extensions})
    return ", ".join(exts) + ", POSCAR*/CONTCAR* (and .gz of text formats)"


def detect_format(name: str, format: str | None = None) -> str:
    """The :data:`FORMATS` key for a file name, or for an explicit ``format``.

    Parameters
    ----------
    name : str
        File name (only its last component is looked at; ``.gz`` is ignored).
    format : str, optional
        A format name, alias or extension that overrides the file name.

    Examples
    --------
    >>> detect_format("frames.xyz.gz"), detect_format("CONTCAR_relaxed"), detect_format("x.dat", "POSCAR")
    ('extxyz', 'vasp', 'vasp')
    """
    if format is not None:
        key = format.strip().lower()
        if key in _LOOKUP:
            return _LOOKUP[key]
        raise DatasetError(f"{name}: unknown format {format!r}. Known formats: {', '.join(FORMATS)}.")
    base = _base_name(name)
    stem = base[:-3] if base.lower().endswith(".gz") else base
    for spec in FORMATS.values():
        if spec.prefixes and stem.upper().startswith(spec.prefixes):
            return spec.name
    suffix = PurePosixPath(stem).suffix.lower()
    if suffix in _LOOKUP:
        return _LOOKUP[suffix]
    raise DatasetError(
        f"{base}: unknown file extension {suffix or '(none)'!r}. Supported: {_supported()};"
        f" or choose the format explicitly."
    )


def _base_name(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).name or "upload"


def _max_bytes(max_bytes: int | None) -> int:
    if max_bytes is not None:
        return int(max_bytes)
    env = os.environ.get("EXPLORER_MAX_UPLOAD_MB")
    if env:
        try:
            return int(float(env) * 1024 * 1024)
        except ValueError:
            raise ValueError(f"EXPLORER_MAX_UPLOAD_MB={env!r} is not a number of megabytes") from None
    return DEFAULT_MAX_BYTES


def _too_large(name: str, size: int, limit: int, what: str = "") -> DatasetError:
    return DatasetError(
        f"{name}: the file{what} is {size / 1024**2:.1f} MB, over the limit of {limit / 1024**2:.1f} MB."
        f" Split it into smaller files, or raise the limit (EXPLORER_MAX_UPLOAD_MB)."
    )


def _gunzip(data: bytes, name: str, limit: int) -> bytes:
    """Decompress, reading in chunks so a gzip bomb stops at ``limit`` (read(n) would allocate n)."""
    chunks, total = [], 0
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
            while total <= limit:
                chunk = gz.read(min(1 << 24, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        out = b"".join(chunks)
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{name}: broken gzip compression ({exc}). Re-compress or upload the uncompressed file.") from exc
    if len(out) > limit:
        raise _too_large(name, len(out), limit, " (decompressed)")
    return out


def read_dataset(source, format: str | None = None, *, name: str | None = None, max_bytes: int | None = None) -> Dataset:
    """Read a file of structures (or of precomputed features) into a :class:`Dataset`.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A path to read, or the raw bytes of an upload.
    format : str, optional
        Format name, alias or extension (``"extxyz"``, ``"xyz"``, ``"cif"``, ``"poscar"``,
        ``"traj"``, ``"db"``, ``"chemiscope"``, ``"csv"``, ``"npz"``, ``".json"``, ...);
        overrides detection from the file name.
    name : str, optional
        Display file name, used for format detection and in messages (for bytes; defaults to the
        path's file name). Never used as a path.
    max_bytes : int, optional
        Size limit in bytes; larger inputs are refused before parsing (also after gzip
        decompression). Default: ``EXPLORER_MAX_UPLOAD_MB`` megabytes when set, else
        :data:`DEFAULT_MAX_BYTES` (200 MB).

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        The file cannot be read: empty, unknown format, truncated or malformed frame, NaN or
        infinite positions, cell/pbc mismatch, zero atoms, too large, no features, ...

    Examples
    --------
    >>> text = b'''2
    ... Lattice="4 0 0 0 4 0 0 0 4" Properties=species:S:1:pos:R:3:forces:R:3 energy=-3.2 pbc="T T T"
    ... H 0 0 0 0.1 0 0
    ... H 0 0 0.74 -0.1 0 0
    ... '''
    >>> ds = read_dataset(text, name="h2.xyz")
    >>> ds.n_structures, ds.n_atoms, ds.periodic
    (1, 2, 'periodic')
    >>> list(ds.structure_properties.columns), list(ds.atom_properties.columns)
    (['energy'], ['structure', 'atom', 'forces[1]', 'forces[2]', 'forces[3]'])
    >>> read_dataset(b"", name="empty.xyz")
    Traceback (most recent call last):
    ...
    compute.datasets.DatasetError: empty.xyz: the file is empty. Upload a file that contains structures.
    """
    limit = _max_bytes(max_bytes)
    if isinstance(source, (bytes, bytearray, memoryview)):
        display = _base_name(name) if name is not None else "upload"
        if name is None and format is None:
            raise DatasetError("upload: cannot detect the format of bytes without a file name; pass name= or format=.")
        data = bytes(source)
        if len(data) > limit:
            raise _too_large(display, len(data), limit)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        display = _base_name(name) if name is not None else path.name
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise DatasetError(f"{display}: not a file. Give the path of a dataset file.")
            if size > limit:
                raise _too_large(display, size, limit)
            data = path.read_bytes()
        except OSError as exc:
            raise DatasetError(f"{display}: cannot open the file ({exc.strerror or exc}). Check the path.") from exc
    else:
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")

    fmt = detect_format(display, format)
    spec = FORMATS[fmt]
    content_hash = hashlib.sha256(data).hexdigest()
    if spec.gzip and data[:2] == b"\x1f\x8b":
        data = _gunzip(data, display, limit)
    if not data.strip():
        raise DatasetError(f"{display}: the file is empty. Upload a file that contains structures.")
    if fmt == "npz":
        _check_npz_members(data, display, limit)
    parts = spec.reader(data, display)
    return Dataset(
        name=display,
        structures=parts.structures,
        structure_properties=parts.structure_properties,
        atom_properties=parts.atom_properties,
        features=parts.features,
        feature_names=parts.feature_names,
        environments=parts.environments,
        content_hash=content_hash,
        format=fmt,
        skipped_properties=parts.skipped,
    )
