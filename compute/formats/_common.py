"""What the readers of :mod:`compute.formats` share: turning ASE frames and values into property
tables, validating structures, and wrapping a parser's errors into :class:`DatasetError`.

A reader takes the (decompressed, size-checked) bytes of a file and its display name and returns
a :class:`~compute.datasets.Dataset` of that name; :func:`compute.datasets.read_dataset` adds the
content hash and the format.
"""

from __future__ import annotations

import numbers

import ase
import ase.io
import numpy as np
import pandas as pd

from .. import budget
from ..datasets import MAX_COMPONENTS, MAX_TEXT_LENGTH, Dataset, DatasetError, offsets_from_counts

# arrays/info entries that are ASE bookkeeping rather than properties
_ASE_ARRAYS = frozenset({"numbers", "positions", "species", "spacegroup_kinds"})
_ASE_INFO = frozenset({"spacegroup", "unit_cell", "occupancy", "pbc", "cell"})
# calculator results with one row per atom (ase.outputs)
_PER_ATOM_RESULTS = frozenset({"forces", "energies", "stresses", "charges", "magmoms"})


def _is_text(v) -> bool:
    return isinstance(v, (str, np.str_))


def _is_flag(v) -> bool:
    return isinstance(v, (bool, np.bool_))


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Real, np.integer, np.floating)) and not _is_flag(v)


# the types parsers give numbers as: a set lookup per value instead of abstract-class checks
_NUMBER_TYPES = frozenset({int, float, np.int32, np.int64, np.float32, np.float64})


def _all_numbers(values) -> bool:
    return all(type(v) in _NUMBER_TYPES for v in values) or all(_is_number(v) for v in values)


def _categorical(values: np.ndarray) -> pd.Categorical:
    """Object array (None where missing) -> categorical."""
    return pd.Categorical(values)


def columns_from_values(key: str, rows: np.ndarray, values: list, n_rows: int, skipped: dict) -> dict:
    """Columns for property ``key`` with ``values[j]`` belonging to row ``rows[j]``.

    Scalars -> one column (float with NaN where missing, int when complete); strings/bools ->
    categorical; equal-shaped numeric arrays -> ``key[1]``, ``key[2]``, ...; anything else is
    recorded in ``skipped`` and gives no column.
    """
    if _all_numbers(values):
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


def add_columns(table: dict, new: dict, key: str, skipped: dict, reserved=()) -> None:
    clash = [c for c in new if c in table or c in reserved]
    if clash:
        skipped[key] = f"column name {clash[0]!r} is already used"
        return
    table.update(new)


def index_columns(counts: np.ndarray) -> dict:
    """The ``structure`` and ``atom`` columns of an atom table with ``counts[i]`` atoms in structure i."""
    offsets = offsets_from_counts(counts)
    structure = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    atom = np.arange(offsets[-1], dtype=np.int64) - np.repeat(offsets[:-1], counts)
    return {"structure": structure, "atom": atom}


def collect_properties(frames: list[ase.Atoms]) -> tuple[np.ndarray, dict, dict]:
    """The properties of ASE frames gathered per name, in the order the tables list them.

    Returns ``(counts, per_structure, per_atom)``: the atom count of each frame;
    ``{name: (rows, values)}`` for ``info`` entries and calculator results of one value per
    structure; ``{name: [(frame, array), ...]}`` for per-atom arrays and per-atom results.
    Names are met frame by frame: ``info``, then ``arrays``, then the calculator's results.
    """
    n = len(frames)
    counts = np.fromiter((len(a) for a in frames), dtype=np.int64, count=n)
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
    return counts, per_structure, per_atom


def tables_from_properties(counts: np.ndarray, per_structure: dict, per_atom: dict, exclude: frozenset = frozenset()) -> tuple:
    """Property tables (structure, atom, skipped, kept values) from what
    :func:`collect_properties` gathers, built column-wise."""
    n = len(counts)
    offsets = offsets_from_counts(counts)
    skipped: dict[str, str] = {}
    s_table: dict = {}
    kept: dict[str, list] = {}
    for k, (rows, vals) in per_structure.items():
        if k in exclude:
            skipped[k] = "JSON-encoded value in a string"
        else:
            add_columns(s_table, columns_from_values(k, np.asarray(rows), vals, n, skipped), k, skipped)
        if k in skipped:
            # no table column, but an export writes it back (long text, JSON-encoded lists)
            column = [None] * n
            for i, v in zip(rows, vals):
                column[i] = _plain_value(v)
            kept[k] = column
    a_table = index_columns(counts)
    for k, items in per_atom.items():
        add_columns(a_table, _atom_columns(k, items, counts, offsets, skipped), k, skipped)
    return pd.DataFrame(s_table, index=pd.RangeIndex(n)), pd.DataFrame(a_table), skipped, kept


def _plain_value(v):
    """A JSON-serialisable copy of an ``info`` value (arrays as nested lists)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _plain_value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain_value(x) for x in v]
    return v


def within_budget(name: str, check, *args, **kwargs) -> None:
    """Run a :mod:`compute.budget` check; its refusal becomes a DatasetError naming the file."""
    try:
        check(budget.current(), *args, **kwargs)
    except budget.BudgetError as exc:
        raise DatasetError(f"{name}: {exc}.") from None


def validate_frames(frames: list[ase.Atoms], name: str, what: str = "frame") -> None:
    if not frames:
        raise DatasetError(f"{name}: the file contains no structures. Check that it is not empty and is in the format its name says.")
    counts = np.fromiter((len(atoms) for atoms in frames), dtype=np.int64, count=len(frames))
    validate_structures(frames, name, what, counts, [atoms.positions for atoms in frames],
                        np.stack([atoms.cell.array for atoms in frames]), np.stack([atoms.pbc for atoms in frames]))


def validate_structures(frames: list[ase.Atoms], name: str, what: str, counts: np.ndarray, positions: list,
                        cells: np.ndarray, pbcs: np.ndarray) -> None:
    """:func:`validate_frames` given what it reads from the frames: atom counts, positions,
    cells ``(n, 3, 3)`` and pbc ``(n, 3)`` (a reader that has them as arrays saves the walk)."""
    within_budget(name, budget.check_counts, counts)
    # whole-file checks first (one numpy call each, not one per frame); the first failing frame
    # is then found and named by the loop below, which only runs when something is wrong
    flat = np.concatenate(positions) if counts.all() else None
    positions_ok = flat is not None and bool(np.isfinite(flat).all())
    cells_ok = bool(np.isfinite(cells).all())
    lengths = np.linalg.norm(cells, axis=2) if cells_ok else None
    zero_periodic = cells_ok and bool((pbcs & (lengths == 0.0)).any())
    if not (positions_ok and cells_ok) or zero_periodic:
        for i, atoms in enumerate(frames):
            _validate_frame(atoms, i, name, what)
    limits = budget.current()
    if not _surely_within(limits, counts, flat, cells, lengths, pbcs):
        # the per-frame check names the first structure over a limit (or passes what the
        # whole-file test only came close to)
        within_budget(name, budget.check_frames, frames, what=what)


def _surely_within(limits, counts, flat, cells, lengths, pbcs) -> bool:
    """Whether :func:`compute.budget.check_frames` surely accepts the frames (coordinates,
    lattice vectors, degenerate cells, volume per atom), tested on the whole file at once, with
    a margin for rounding: ``False`` sends the frames to that per-frame check."""
    if flat is None or lengths is None:
        return False
    if flat.size and float(np.abs(flat).max()) > limits.max_coordinate:
        return False
    periodic = pbcs.any(axis=1)
    if not periodic.any():
        return True
    slack = 1e-6
    if float(np.where(pbcs, lengths, 0.0).max()) > limits.max_coordinate * (1 - slack):
        return False
    full = pbcs.all(axis=1)
    if full.any():
        volume = np.abs(np.linalg.det(cells[full]))
        product = np.prod(lengths[full], axis=1)
        if bool((volume <= 1e-6 * (1 + slack) * product).any()):
            return False
        if bool((volume / counts[full] < limits.min_volume_per_atom * (1 + slack)).any()):
            return False
    return True


def _validate_frame(atoms: ase.Atoms, i: int, name: str, what: str) -> None:
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


def _plain(atoms: ase.Atoms) -> ase.Atoms:
    """Strip an Atoms object down to numbers, positions, cell and pbc (in place)."""
    for k in list(atoms.arrays):
        if k not in ("numbers", "positions"):
            del atoms.arrays[k]
    atoms.info = {}
    atoms.calc = None
    atoms.constraints = []
    return atoms


def structures_dataset(frames: list[ase.Atoms], name: str, exclude=frozenset()) -> Dataset:
    validate_frames(frames, name)
    counts, per_structure, per_atom = collect_properties(frames)
    return tables_dataset(name, [_plain(a) for a in frames], counts, per_structure, per_atom, exclude)


def tables_dataset(name: str, structures: list[ase.Atoms], counts: np.ndarray, per_structure: dict, per_atom: dict,
                   exclude=frozenset()) -> Dataset:
    """The dataset of validated plain structures and their properties as
    :func:`collect_properties` gathers them."""
    s_props, a_props, skipped, kept = tables_from_properties(counts, per_structure, per_atom, exclude)
    return Dataset(name, structures, s_props, a_props, skipped_properties=skipped,
                   metadata={"values": kept} if kept else {})


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def ase_iread(source, ase_format: str, name: str, label: str, count_lines: bool = False) -> list[ase.Atoms]:
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


FEATURES_HELP = (
    "A features table needs numeric feature columns (CSV: columns named 'feature...', or numeric columns;"
    " NPZ: a 2-D numeric array under the key 'features')."
)


def features_dataset(name: str, features: np.ndarray, feature_names: list[str], props: dict, skipped: dict) -> Dataset:
    if features.ndim != 2 or features.shape[1] == 0 or features.shape[0] == 0:
        raise DatasetError(f"{name}: no numeric features found (features of shape {features.shape}). {FEATURES_HELP}")
    bad = ~np.isfinite(features)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DatasetError(f"{name}: feature {feature_names[c]!r} of row {r} is NaN or infinite. Features must be finite numbers.")
    return Dataset(
        name,
        None,
        pd.DataFrame(props, index=pd.RangeIndex(features.shape[0])),
        pd.DataFrame({"structure": np.zeros(0, np.int64), "atom": np.zeros(0, np.int64)}),
        features=features,
        feature_names=feature_names,
        skipped_properties=skipped,
    )

