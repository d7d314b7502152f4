"""Extended XYZ (and plain XYZ): structures with their properties, many frames per file.

The reader first runs a linear scan that checks each frame's announced atom count against the
lines that follow and the budget (on the bytes of an ASCII file, on its text otherwise). It then
parses with the libAtoms ``extxyz`` C parser (PyPI ``extxyz``) when it is installed, reading the
bytes in memory, and turns its frames into the plain structures and property columns that ASE's
extended XYZ reader gives for the same text (:func:`_native_frames`: key by key over the file
when every frame has the same keys, frame by frame otherwise); with ASE's reader otherwise, or
when the C parser refuses the file, or when the file uses what the two read differently
(``[...]`` arrays, ``uid``, cell vectors as ``VEC`` lines): both paths give the same
:class:`Dataset`. ``key=_JSON ...`` values are left out (listed as skipped). The writer,
:func:`to_extxyz`, writes a selection back in a form the reader reads with the same structures
and properties; :func:`column_name` is the one rule for turning a property name into an extended
XYZ column name.
"""

from __future__ import annotations

import ctypes
import gc
import io
import os
import re
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import ase
import ase.io
import numpy as np
import pandas as pd

from .. import budget
from ..datasets import DatasetError
from ._common import (
    ase_iread, decode_text, structures_dataset, tables_dataset, validate_structures, within_budget,
)
from ._registry import register
from ._writing import atom_rows, check_per, is_numeric, need_structures, per_row, row_count, selection

if TYPE_CHECKING:
    from ..datasets import Dataset

__all__ = ["column_name", "read_extxyz", "to_extxyz"]


# --------------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------------


_JSON_KEY = re.compile(r"([^\s=\"']+)\s*=\s*[\"'{]?\s*_JSON")
_JSON_KEY_BYTES = re.compile(rb"([^\s=\"']+)\s*=\s*[\"'{]?\s*_JSON")


def _check_xyz_frame_sizes(text: str, name: str) -> list[str] | None:
    """Every frame's announced atom count fits in the lines that follow.

    ASE's reader trusts the count line: a tiny hostile file announcing 10¹² atoms would keep it
    reading empty lines for hours. This scan is linear in the file and stops that at once.
    Returns the frames' comment lines, or ``None`` when a line that should be a count is not one
    or a frame has no atoms (then only ASE's reader may read the file).
    """
    lines = text.splitlines()
    return _walk_frames(len(lines), lines.__getitem__, name)




def _plain_line_breaks(data: bytes) -> np.ndarray | None:
    """Where the ``\\n`` of ``data`` are, when it is ASCII whose only control characters are
    ``\\n`` and ``\\t``: then its lines and words are the same as bytes and as text
    (``str.splitlines`` also breaks at ``\\r``, ``\\x0b``, ``\\x0c``, ``\\x1c``-``\\x1e``;
    ``str.split`` also splits at ``\\x1f``); ``None`` otherwise."""
    if not data.isascii():
        return None
    codes = np.frombuffer(data, dtype=np.uint8)
    controls = np.flatnonzero(codes < 32)
    kinds = codes[controls]
    newline = kinds == 10
    if not bool((newline | (kinds == 9)).all()):
        return None
    return controls[newline]


def _check_xyz_frame_sizes_bytes(data: bytes, name: str, newlines: np.ndarray) -> list[bytes] | None:
    """:func:`_check_xyz_frame_sizes` on the raw bytes of a file with plain lines, given where
    its line breaks are (:func:`_plain_line_breaks`), which then has the same lines as its text:
    only the count and comment lines become Python objects. Same counts, comments and errors."""
    # line k is data[edges[k] + 1 : edges[k + 1]]
    edges = np.empty(len(newlines) + 2, dtype=np.int64)
    edges[0] = -1
    edges[1:-1] = newlines
    edges[-1] = len(data)
    n_lines = len(newlines) + (0 if data.endswith(b"\n") else 1)  # no empty line after the last break
    edge = edges.item  # a Python int: slicing with it is faster than with a NumPy scalar
    return _walk_frames(n_lines, lambda k: data[edge(k) + 1 : edge(k + 1)], name)


def _walk_frames(n_lines: int, line, name: str) -> list | None:
    """The count scan over ``n_lines`` lines, ``line(k)`` giving line ``k`` (text or bytes)."""
    limits = budget.current()
    max_per_structure, max_structures, max_atoms = limits.max_atoms_per_structure, limits.max_structures, limits.max_atoms
    position, frame, total = 0, 0, 0
    counts: list[int] = []
    comments: list = []
    while position < n_lines:
        count_line = line(position)
        try:
            count = int(count_line)  # a count alone on its line, spaces around: no split needed
        except ValueError:
            head = count_line.split()
            if not head:  # blank lines between or after frames: ASE decides whether it accepts them
                position += 1
                continue
            try:
                count = int(head[0])
            except ValueError:
                return None  # not a count line: ASE's own error names the problem
        remaining = n_lines - position - 2
        if count < 0 or count > remaining:
            raise DatasetError(
                f"{name}: frame {frame} (starting at line {position + 1}): expected {count} atoms but only "
                f"{max(remaining, 0)} lines follow. The file is truncated or the count is wrong."
            )
        counts.append(count)
        comments.append(line(position + 1))
        total += count
        if count > max_per_structure or len(counts) > max_structures or total > max_atoms:
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
_ASE_ONLY_BYTES = re.compile(rb"=[ \t]*\[|\buid[ \t]*=", re.IGNORECASE)


#: EXPLORER_NATIVE_XYZ=0 keeps the C parser out: it runs in the reading process, and a malformed
#: file it does not guard against (a frame of zero atoms was one) crashes that process. Scripts
#: reading their own files get the speed; the app sets 0 for untrusted uploads (explorer.state).
NATIVE_XYZ_VARIABLE = "EXPLORER_NATIVE_XYZ"


def native_parser_enabled() -> bool:
    """Whether extended XYZ may go through the extxyz C parser (``EXPLORER_NATIVE_XYZ``, default on)."""
    return os.environ.get(NATIVE_XYZ_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")


def _native_frames(data: bytes, comments: list | None) -> tuple | None:
    """The frames of ``data`` (UTF-8 bytes) through the extxyz C parser, read as ASE's extended
    XYZ reader reads the same text: ``(structures, counts, per_structure, per_atom, positions,
    cells, pbcs)`` with plain ``ase.Atoms`` and the properties gathered as
    :func:`~compute.formats._common.collect_properties` gathers them from ASE's frames (same
    names, order, values). ``None`` when the C parser is not installed or refuses the text, or
    when the frames' ``comments`` hold what the two parsers read differently (``None``: the count
    scan stopped), so that ASE reads the file."""
    if not native_parser_enabled():
        return None
    try:
        from extxyz import cextxyz
    except ImportError:
        return None
    if not comments:
        return None
    if isinstance(comments[0], bytes):
        joined, pattern, bracket, uid = b"\n".join(comments), _ASE_ONLY_BYTES, b"[", b"uid"
    else:
        joined, pattern, bracket, uid = "\n".join(comments), _ASE_ONLY, "[", "uid"
    if (bracket in joined or uid in joined.lower()) and pattern.search(joined):  # substring tests first: cheaper
        return None
    raw = _read_raw_frames(cextxyz, data)
    if not raw:
        return None
    try:
        return _frames_from_dicts(raw)
    except Exception:  # noqa: BLE001 -- a frame ASE would refuse: its reader gives the message
        return None


def _read_raw_frames(cextxyz, data: bytes) -> list[tuple] | None:
    """Every frame of ``data`` as the C parser's ``(natoms, info, arrays)``, or ``None`` when it
    refuses one. The C parser reads a C ``FILE*``: one reading ``data`` in memory (``fmemopen``),
    or where there is none, a temporary file holding it."""
    memory = _memory_file(cextxyz, data)
    if memory is not None:
        return _read_frames_from(cextxyz, memory, data)
    with tempfile.TemporaryDirectory(prefix="explorer-") as tmp:
        path = os.path.join(tmp, "upload.xyz")
        with open(path, "wb") as fd:
            fd.write(data)
        fp = cextxyz.cfopen(path, "r")
        return _read_frames_from(cextxyz, fp, data) if fp else None


def _memory_file(cextxyz, data: bytes):
    """A C ``FILE*`` reading the bytes of ``data`` where they are (POSIX ``fmemopen`` of the C
    library the parser uses), or ``None``. ``data`` must outlive it."""
    if sys.platform == "win32" or not data:
        return None
    try:
        fmemopen = getattr(cextxyz._stdio, "fmemopen")  # noqa: B009 -- private: anything unexpected falls back
        fmemopen.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p]
        fmemopen.restype = cextxyz.FILE_ptr
        fp = fmemopen(data, len(data), b"r")
    except Exception:  # noqa: BLE001 -- no fmemopen there: a temporary file
        return None
    return fp if fp else None


def _read_frames_from(cextxyz, fp, data: bytes) -> list[tuple] | None:
    raw: list[tuple] = []
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
    return raw


def _numbers(columns: list[dict]) -> list[np.ndarray]:
    """Atomic numbers of every frame: its ``Z`` column, or its ``species`` symbols (capitalised,
    as ASE reads them) looked up once per distinct symbol over the whole file."""
    symbols = [c["symbols"] for c in columns if "numbers" not in c]
    pieces = iter(_numbers_of_symbols(symbols))
    return [np.array(c["numbers"], dtype=int) if "numbers" in c else next(pieces) for c in columns]


def _numbers_of_symbols(symbols: list[np.ndarray]) -> list[np.ndarray]:
    """The atomic numbers (ASE's integer type, one array per frame) of each frame's symbols."""
    from ase.data import atomic_numbers

    if not symbols:
        return []
    flat = np.concatenate(symbols)
    if flat.dtype.kind != "U":
        flat = flat.astype(str)
    distinct, inverse = _distinct_symbols(flat)
    table = np.array([atomic_numbers[s.capitalize()] for s in distinct], dtype=int)
    looked_up = table[inverse]
    bounds = np.cumsum([0] + [len(s) for s in symbols]).tolist()
    return [looked_up[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:])]


def _distinct_symbols(flat: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The distinct strings of a ``<U`` array and where each entry is among them. Symbols of up
    to three ASCII characters (every chemical symbol) are numbered through a table indexed by
    their characters, without sorting; others through :func:`numpy.unique`."""
    width = flat.dtype.itemsize // 4
    if 0 < width and len(flat):
        codes = flat.view(np.uint32).reshape(len(flat), width)
        if (width <= 3 or not codes[:, 3:].any()) and int(codes[:, : min(width, 3)].max()) < 128:
            key = codes[:, 0].astype(np.int32)
            for j in range(1, min(width, 3)):
                key += codes[:, j].astype(np.int32) << (7 * j)
            seen = np.zeros(1 << 21, dtype=bool)
            seen[key] = True
            keys = np.flatnonzero(seen)
            index = np.zeros(1 << 21, dtype=np.int32)
            index[keys] = np.arange(len(keys), dtype=np.int32)
            inverse = index[key]
            some = np.zeros(len(keys), dtype=np.int64)
            some[inverse] = np.arange(len(flat))  # an entry of each symbol (a key is one symbol)
            return flat[some].tolist(), inverse
    distinct, inverse = np.unique(flat, return_inverse=True)
    return distinct.tolist(), inverse.reshape(-1)


def _frames_from_dicts(raw: list[tuple]) -> tuple:
    """The C parser's ``(natoms, info, arrays)`` frames as ASE's ``_read_xyz_frame``
    (ase/io/extxyz.py) reads them: numbers, positions, cell, pbc; ``info`` (9-vectors kept flat
    but for Lattice, virial and stress; JSON decoded) and ``arrays``, with ASE's calculator
    results (energy, forces, stress in Voigt order, ...) listed after them. Raises what ASE
    would refuse.

    Frames that all have the same keys (the usual file) are turned into columns key by key
    (:func:`_uniform_frames`); others frame by frame (:func:`_each_frame`): the same result."""
    from ase.io.extxyz import REV_PROPERTY_NAME_MAP

    counts = np.fromiter((frame[0] for frame in raw), dtype=np.int64, count=len(raw))
    uniform = _uniform_frames(raw, counts)
    if uniform is not None:
        return uniform
    rename = REV_PROPERTY_NAME_MAP
    columns_list = [{rename.get(k, k): v for k, v in arrays.items()} for _, _, arrays in raw]
    return _each_frame(raw, columns_list, _numbers(columns_list), counts)


def _ase_names() -> tuple[frozenset, frozenset, frozenset]:
    """ASE's special 3x3 info keys, per-configuration results and calculator result names."""
    from ase.calculators.calculator import all_properties
    from ase.io.extxyz import SPECIAL_3_3_KEYS, per_config_properties

    return frozenset(SPECIAL_3_3_KEYS), frozenset(per_config_properties), frozenset(all_properties)


def _info_value(key: str, value, special: frozenset):
    """An ``info`` value of the C parser as ASE's reader gives it."""
    if isinstance(value, np.ndarray) and value.shape == (3, 3) and key not in special:
        # the C parser shapes every old-style 9-vector as a 3x3 (column-major) matrix; ASE keeps
        # the 9-vector except for Lattice, virial and stress
        return value.reshape(9, order="F")
    if isinstance(value, str) and value.startswith("_JSON "):
        import json

        decoded = json.loads(value.replace("_JSON ", "", 1))
        as_array = np.array(decoded)
        return as_array if as_array.dtype.kind in "ifb" else decoded
    if key in special and not (isinstance(value, np.ndarray) and value.shape == (3, 3)):
        raise ValueError(f"{key} is not a 3x3 matrix")  # ASE refuses it: its error is the one shown
    return value


def _result_value(key: str, value):
    """A per-configuration result as ASE stores it (stress in Voigt order)."""
    if key == "stress" and np.shape(value) == (3, 3):
        return np.array([value[0, 0], value[1, 1], value[2, 2], value[1, 2], value[0, 2], value[0, 1]])
    return value


def _own_positions(pos, natoms: int) -> np.ndarray:
    if type(pos) is not np.ndarray or pos.dtype != np.float64 or not pos.flags.c_contiguous:
        pos = np.array(pos, dtype=float)
    if pos.shape != (natoms, 3):
        raise ValueError("atom count")
    return pos


def _each_frame(raw: list[tuple], columns_list: list[dict], numbers: list, counts: np.ndarray) -> tuple:
    """:func:`_frames_from_dicts`, frame by frame."""
    from ._common import _ASE_ARRAYS, _ASE_INFO, _PER_ATOM_RESULTS

    special, config_results, results_names = _ase_names()
    n = len(raw)
    cells = np.zeros((n, 3, 3))
    pbcs = np.zeros((n, 3), dtype=bool)
    positions: list[np.ndarray] = []
    structures: list[ase.Atoms] = []
    per_structure: dict[str, tuple[list, list]] = {}
    per_atom: dict[str, list] = {}
    new_atoms = _plain_atoms_factory()
    for i, ((natoms, info, _), columns, z) in enumerate(zip(raw, columns_list, numbers)):
        info = dict(info)
        info.pop("Properties", None)
        lattice = info.pop("Lattice", None)
        pbc = info.pop("pbc", None)
        if pbc is None:  # ASE: periodic along all three axes when a lattice is given, else not
            pbc = lattice is not None
        plain: list[tuple] = []
        config: list[tuple] = []
        for key, value in info.items():
            (config if key in config_results else plain).append((key, _info_value(key, value, special)))
        columns = dict(columns)
        columns.pop("numbers", None)
        columns.pop("symbols", None)
        pos = _own_positions(columns.pop("positions"), natoms)
        if z.shape != (natoms,):
            raise ValueError("atom count")
        if lattice is not None:
            lattice = np.asarray(lattice, dtype=float)
            if lattice.shape != (3, 3):
                raise ValueError("Lattice is not a 3x3 matrix")
            cells[i] = lattice.T
        pbcs[i] = pbc
        positions.append(pos)
        structures.append(new_atoms(z, pos, cells[i].copy(), pbcs[i].copy()))
        columns.pop("move_mask", None)  # a constraint in ASE, which the tables drop
        results: dict = {}
        atom_arrays: list[tuple] = []
        for key, value in columns.items():
            if key in results_names:
                results[key] = value
            else:
                atom_arrays.append((key, value))
        for key, value in config:
            results[key] = _result_value(key, value)
        # a plain-XYZ free-text comment ("water, B3LYP") comes back as bare words set to True
        if plain and all(v is True for _, v in plain):
            plain = []
        for key, value in plain:
            if key not in _ASE_INFO:
                rows, values = per_structure.setdefault(key, ([], []))
                rows.append(i)
                values.append(value)
        for key, value in atom_arrays:
            if key not in _ASE_ARRAYS:
                per_atom.setdefault(key, []).append((i, value))
        for key, value in results.items():
            if key in _PER_ATOM_RESULTS and np.ndim(value) >= 1 and len(value) == natoms:
                per_atom.setdefault(key, []).append((i, value))
            else:
                rows, values = per_structure.setdefault(key, ([], []))
                rows.append(i)
                values.append(value)
    return structures, counts, per_structure, per_atom, positions, cells, pbcs


# info values that need no conversion (but under a special 3x3 key, which must be a matrix)
_SIMPLE_TYPES = frozenset({float, int, bool})


def _uniform_frames(raw: list[tuple], counts: np.ndarray) -> tuple | None:
    """:func:`_each_frame` for frames that all have the same info keys and per-atom columns in
    the same order, built key by key over all frames at once; ``None`` when the frames differ
    (or a plain-XYZ comment, a result named twice or a result that is per atom in some frames
    only calls for the frame-by-frame rules)."""
    from ase.io.extxyz import REV_PROPERTY_NAME_MAP

    from ._common import _ASE_ARRAYS, _ASE_INFO, _PER_ATOM_RESULTS

    infos = [frame[1] for frame in raw]
    arrays = [frame[2] for frame in raw]
    info_keys = list(infos[0])
    array_keys = list(arrays[0])
    if any(list(info) != info_keys for info in infos) or any(list(a) != array_keys for a in arrays):
        return None
    renamed = {REV_PROPERTY_NAME_MAP.get(k, k): k for k in array_keys}
    if len(renamed) != len(array_keys):
        return None  # two columns under one name: frame by frame
    column_keys = list(renamed)

    def column(key: str) -> list:
        raw_key = renamed[key]
        return [a[raw_key] for a in arrays]

    if "numbers" in renamed:
        numbers = [np.array(z, dtype=int) for z in column("numbers")]
    else:
        numbers = _numbers_of_symbols(column("symbols"))
    special, config_results, results_names = _ase_names()
    n = len(raw)
    all_rows = np.arange(n)
    plain: list[tuple] = []
    config: list[tuple] = []
    for key in info_keys:
        if key in ("Properties", "Lattice", "pbc"):
            continue
        values = [info[key] for info in infos]
        if key in special or not set(map(type, values)) <= _SIMPLE_TYPES:
            values = [_info_value(key, v, special) for v in values]
        (config if key in config_results else plain).append((key, values))
    if plain and all(bool in set(map(type, values)) for _, values in plain):
        # some frame may be a plain-XYZ comment of bare words (all True): frame by frame
        if any(all(values[i] is True for _, values in plain) for i in range(n)):
            return None
    # positions, numbers, cells, pbc
    positions = [_own_positions(pos, k) for pos, k in zip(column("positions"), counts.tolist())]
    if any(z.shape != (k,) for z, k in zip(numbers, counts.tolist())):
        raise ValueError("atom count")
    if "Lattice" in info_keys:
        lattices = [np.asarray(info["Lattice"], dtype=float) for info in infos]
        if any(lattice.shape != (3, 3) for lattice in lattices):
            raise ValueError("Lattice is not a 3x3 matrix")
        cells = np.ascontiguousarray(np.concatenate(lattices).reshape(n, 3, 3).transpose(0, 2, 1))
    else:
        cells = np.zeros((n, 3, 3))
    pbcs = np.zeros((n, 3), dtype=bool)
    if "pbc" in info_keys:
        for i, info in enumerate(infos):
            pbcs[i] = info["pbc"]
    else:  # ASE: periodic along all three axes when a lattice is given, else not
        pbcs[:] = "Lattice" in info_keys
    new_atoms = _plain_atoms_factory()
    structures = [new_atoms(z, pos, cells[i].copy(), pbcs[i].copy()) for i, (z, pos) in enumerate(zip(numbers, positions))]
    # properties
    results: dict[str, list] = {}
    atom_arrays: list[tuple] = []
    for key in column_keys:
        if key in ("numbers", "symbols", "positions", "move_mask"):
            continue
        values = column(key)
        if key in results_names:
            results[key] = values
        else:
            atom_arrays.append((key, values))
    for key, values in config:
        if key in results:
            return None  # a per-atom column and an info value of the same result: frame by frame
        results[key] = [_result_value(key, v) for v in values] if key == "stress" else values
    per_structure: dict[str, tuple] = {}
    per_atom: dict[str, list] = {}
    for key, values in plain:
        if key not in _ASE_INFO:
            per_structure[key] = (all_rows, values)
    for key, values in atom_arrays:
        if key not in _ASE_ARRAYS:
            per_atom[key] = list(enumerate(values))
    for key, values in results.items():
        atomwise = [key in _PER_ATOM_RESULTS and np.ndim(v) >= 1 and len(v) == k for v, k in zip(values, counts.tolist())]
        if all(atomwise):
            per_atom[key] = list(enumerate(values))
        elif not any(atomwise):
            per_structure[key] = (all_rows, values)
        else:
            return None
    return structures, counts, per_structure, per_atom, positions, cells, pbcs


_PLAIN_ATOMS = None


def _plain_atoms_factory():
    """A function ``(numbers, positions, cell, pbc) -> ase.Atoms`` for plain structures (no info,
    calculator, constraints or other arrays), taking the arrays as given (``numbers`` of ASE's
    integer type, ``positions`` float64 ``(n, 3)`` C-contiguous, ``cell`` float64 ``(3, 3)``,
    ``pbc`` bool ``(3,)``, each owned by the structure).

    ``ase.Atoms(...)`` spends ~15 µs per structure converting and checking what the C parser
    already gives in its final form; this sets the same attributes directly. It is used only
    when a structure built so is equal, attribute for attribute, to one built by ``ase.Atoms``
    (checked once per process); otherwise it is ``ase.Atoms`` itself.
    """
    global _PLAIN_ATOMS
    if _PLAIN_ATOMS is not None:
        return _PLAIN_ATOMS
    from ase.cell import Cell

    def constructed(numbers, positions, cell, pbc):
        return ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)

    def direct(numbers, positions, cell, pbc):
        atoms = object.__new__(ase.Atoms)
        cellobj = object.__new__(Cell)
        cellobj.array = cell
        atoms.__dict__.update(_cellobj=cellobj, _pbc=pbc, arrays={"numbers": numbers, "positions": positions},
                              _celldisp=np.zeros((3, 1)), _constraints=[], info={}, _calc=None)
        return atoms

    def args():
        return (np.array([1, 8], dtype=int), np.array([[0.0, 0.0, 0.0], [0.0, 0.1, 0.9]]),
                np.array([[2.0, 0.0, 0.0], [0.5, 3.0, 0.0], [0.0, 0.0, 4.0]]), np.array([True, False, True]))

    try:
        ref, got = constructed(*args()), direct(*args())
        same = (list(vars(ref)) == list(vars(got))
                and all(type(vars(ref)[k]) is type(vars(got)[k]) for k in vars(ref))
                and list(vars(ref.cell)) == list(vars(got.cell))
                and list(ref.arrays) == list(got.arrays)
                and all(ref.arrays[k].dtype == got.arrays[k].dtype and ref.arrays[k].shape == got.arrays[k].shape
                        for k in ref.arrays)
                and ref == got and np.array_equal(ref.get_celldisp(), got.get_celldisp())
                and ref.info == got.info and ref.calc is None and got.calc is None and not ref.constraints)
    except Exception:  # noqa: BLE001 -- another ASE: its constructor, whatever it does
        same = False
    _PLAIN_ATOMS = direct if same else constructed
    return _PLAIN_ATOMS


def read_extxyz(data: bytes, name: str) -> Dataset:
    newlines = _plain_line_breaks(data)
    if newlines is not None:
        # the common case: ASCII with \n line breaks, scanned and parsed as bytes (text only
        # for ASE's reader, if it is needed)
        text = None
        comments = _check_xyz_frame_sizes_bytes(data, name, newlines)
        exclude = (frozenset(k.decode() for k in _JSON_KEY_BYTES.findall(data)) if b"_JSON" in data else frozenset())
        encoded = data
    else:
        text = decode_text(data)
        comments = _check_xyz_frame_sizes(text, name)
        exclude = frozenset(_JSON_KEY.findall(text)) if "_JSON" in text else frozenset()
        encoded = None
    # tens of thousands of frames are hundreds of thousands of new objects, none in a cycle: the
    # cyclic collector would walk them again and again (a quarter of the time), so it waits
    collecting = gc.isenabled()
    gc.disable()
    try:
        native = None
        if comments and native_parser_enabled():  # (the app turns it off: no encoding for nothing)
            native = _native_frames(text.encode("utf-8") if encoded is None else encoded, comments)
        if native is not None:
            structures, counts, per_structure, per_atom, positions, cells, pbcs = native
            validate_structures(structures, name, "frame", counts, positions, cells, pbcs)
            return tables_dataset(name, structures, counts, per_structure, per_atom, exclude)
        if text is None:
            text = decode_text(data)
        frames = ase_iread(io.StringIO(text), "extxyz", name, "(extended) XYZ", count_lines=True)
        for atoms in frames:
            # a plain-XYZ free-text comment ("water, B3LYP") comes back as bare words set to True
            if atoms.info and all(v is True for v in atoms.info.values()):
                atoms.info = {}
        return structures_dataset(frames, name, exclude)
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

    # extra name[1..k] numeric columns (a predicted vector) are written whole, like the tables' own
    extra_groups = _grouped(list(extra), {k for k, v in extra.items() if v.dtype.kind in "iuf"})
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
            for key, cols in extra_groups:
                if len(cols) == 1:
                    value = _scalar(extra[cols[0]][j])
                    if value is not None:
                        atoms.info[key] = value
                else:  # name[1..k]: one vector, as the dataset's own vectors are written
                    vec = np.array([extra[c][j] for c in cols], dtype=float)
                    if not np.isnan(vec).all():
                        atoms.info[key] = vec
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
            for key, cols in extra_groups:
                name = column_name(key)
                if len(cols) > 1:  # name[1..k]: one k-column array
                    if name in used or name in _RESERVED_ARRAYS:
                        raise ValueError(f"extra property {key!r}: a property of that name already exists; choose another name")
                    atoms.arrays[name] = np.stack([extra_atoms[c][lo:hi].astype(float) for c in cols], axis=1)
                    continue
                block = extra_atoms[cols[0]][lo:hi]
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
