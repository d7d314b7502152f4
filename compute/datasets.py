"""Read datasets of atomic structures (or of precomputed features) into one :class:`Dataset`.

Each format lives in its own module of :mod:`compute.formats` (its reader, its writer where there
is one) and registers itself in :data:`FORMATS` with its file-name extensions, in the spirit of
ASE's ``ase.io.formats``; :func:`read_dataset` picks the reader from ``format=`` or from the file
name and never tries one reader after another. This module keeps what every format shares: the
:class:`Dataset`, the size limit, gzip and format detection. Supported:

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
CSV and NPZ files hold precomputed features, one row per sample, with optional property columns:
see :mod:`compute.formats.csv` and :mod:`compute.formats.npz` for how columns are recognised.

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
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath

import ase
import numpy as np
import pandas as pd
from ase.data import chemical_symbols

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

#: Default size limit of an input, in bytes: what :func:`read_dataset` accepts when not given
#: ``max_bytes``. A plain constant: an application passes its own limit (the web app passes its
#: ``EXPLORER_MAX_UPLOAD_MB`` setting), no environment variable is read here.
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Strings longer than this are free text, not a category, and are left out of the tables.
MAX_TEXT_LENGTH = 100
#: Vectors/tensors with more components than this are left out of the tables.
MAX_COMPONENTS = 16
#: The index columns that start :attr:`Dataset.atom_properties`.
INDEX_COLUMNS = ("structure", "atom")


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
    metadata : dict
        What a file says about its data besides the tables, kept so that an export gives it back:
        ``meta`` (name, description, authors, references), ``units`` and ``descriptions``
        (property name -> text), and chemiscope's ``settings``, ``parameters``, ``shapes`` and
        per-property ``parameters``; ``pbc_guessed`` lists structures whose periodicity was
        inferred from the cell. ``values``: per-structure values that fit no table column (long
        text, JSON-encoded lists; a chemiscope multidimensional property of many components) as
        ``{name: [value or None per structure]}``, written back by
        :func:`compute.export.to_extxyz` (and the chemiscope ones by
        :func:`compute.export.to_chemiscope`); ``property_parameters``: the ``parameters`` of
        chemiscope's multidimensional properties, whose columns ``name[1]``, ``name[2]``, ... an
        export writes back as one property. Empty for formats that carry none of it.
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
    metadata: dict = field(default_factory=dict)

    @property
    def n_structures(self) -> int:
        """Number of structures; for a features table, its number of rows."""
        if self.structures is not None:
            return len(self.structures)
        return len(self.structure_properties)

    @property
    def n_atoms(self) -> int:
        """Total number of atoms (0 for a features table)."""
        return int(self.atom_offsets[-1])

    @cached_property
    def atom_offsets(self) -> np.ndarray:
        """Where each structure's atoms start in the flat (structure, atom) order.

        An int64 array of length ``n_structures + 1``: the atoms of structure ``i`` are rows
        ``atom_offsets[i]:atom_offsets[i + 1]`` of per-atom features and (for a dataset read by
        :func:`read_dataset`) of :attr:`atom_properties`; the last entry is :attr:`n_atoms`. All
        zeros for a features table. Computed once: the structures of a dataset do not change.

        Examples
        --------
        >>> read_dataset(b"1\\n\\nHe 0 0 0\\n2\\n\\nH 0 0 0\\nH 0 0 0.7\\n", name="x.xyz").atom_offsets.tolist()
        [0, 1, 3]
        """
        if self.structures is None:
            return np.zeros(self.n_structures + 1, dtype=np.int64)
        return offsets_from_counts([len(atoms) for atoms in self.structures])

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
        atom_cols = [c for c in self.atom_properties.columns if c not in INDEX_COLUMNS]
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


def offsets_from_counts(counts) -> np.ndarray:
    """``[0, c0, c0 + c1, ...]`` (int64): the start of each structure's atoms given the atom
    counts, for readers that build tables before there is a :class:`Dataset`
    (:attr:`Dataset.atom_offsets` is this for a dataset's structures)."""
    counts = np.asarray(counts, dtype=np.int64)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def too_large(name: str, size: int, limit: int, what: str = "") -> DatasetError:
    """The refusal of an input over the size limit (``what`` says which size, e.g. decompressed)."""
    return DatasetError(
        f"{name}: the file{what} is {size / 1024**2:.1f} MB, over the limit of {limit / 1024**2:.1f} MB."
        f" Split it into smaller files, or raise the limit (max_bytes of read_dataset; in the web app, the setting"
        f" EXPLORER_MAX_UPLOAD_MB)."
    )


# The formats import DatasetError, Dataset and the helpers above from this module, so the registry
# is imported only once those exist (whichever of the two modules is imported first).
from .formats import FORMATS, FormatSpec, lookup  # noqa: E402


# --------------------------------------------------------------------------------------------
# format detection, size limit, gzip
# --------------------------------------------------------------------------------------------


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
        found = lookup(format)
        if found is not None:
            return found
        raise DatasetError(f"{name}: unknown format {format!r}. Known formats: {', '.join(FORMATS)}.")
    base = _base_name(name)
    stem = base[:-3] if base.lower().endswith(".gz") else base
    for spec in FORMATS.values():
        if spec.prefixes and stem.upper().startswith(spec.prefixes):
            return spec.name
    suffix = PurePosixPath(stem).suffix.lower()
    found = lookup(suffix) if suffix else None
    if found is not None:
        return found
    raise DatasetError(
        f"{base}: unknown file extension {suffix or '(none)'!r}. Supported: {_supported()};"
        f" or choose the format explicitly."
    )


def _base_name(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).name or "upload"


def _max_bytes(max_bytes: int | None) -> int:
    return DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)


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
        raise too_large(name, len(out), limit, " (decompressed)")
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
        decompression). Default: :data:`DEFAULT_MAX_BYTES` (200 MB). No environment variable
        changes it: an application gives its own limit here.

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
            raise too_large(display, len(data), limit)
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        display = _base_name(name) if name is not None else path.name
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise DatasetError(f"{display}: not a file. Give the path of a dataset file.")
            if size > limit:
                raise too_large(display, size, limit)
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
    if not data or data.isspace():  # (strip() would copy the whole file)
        raise DatasetError(f"{display}: the file is empty. Upload a file that contains structures.")
    if spec.check_size is not None:
        spec.check_size(data, display, limit)
    dataset = spec.reader(data, display)
    dataset.content_hash = content_hash
    dataset.format = fmt
    return dataset

