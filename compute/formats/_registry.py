"""The format registry: one :class:`FormatSpec` per file format, registered by its module.

Each module of :mod:`compute.formats` ends with one :func:`register` call naming its format, its
file-name extensions, its reader and (where there is one) its writer, in the spirit of ASE's
``ase.io.formats`` table. Two formats claiming the same extension, alias or file-name prefix is
a programming error, raised when the second module is imported rather than resolved silently by
import order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["FORMATS", "FormatSpec", "lookup", "register"]


@dataclass(frozen=True)
class FormatSpec:
    """One entry of :data:`FORMATS`."""

    name: str
    description: str
    #: ``reader(data, name)`` -> the :class:`~compute.datasets.Dataset` named ``name``, without its
    #: content hash and format (see :mod:`compute.formats._common`)
    reader: Callable
    extensions: tuple[str, ...]
    #: the export function for this format (its own signature), ``None`` when there is none
    writer: Callable | None = None
    #: file-name prefixes (upper case) that select this format, e.g. ``POSCAR``
    prefixes: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    #: whether a gzip-compressed file is decompressed before reading
    gzip: bool = True
    #: ``check_size(data, name, limit)``: refuses, before parsing, content that would inflate
    #: past the size limit (an archive's members); ``None`` when the raw size says it all
    check_size: Callable[[bytes, str, int], None] | None = None


#: format name -> :class:`FormatSpec`, in registration order.
FORMATS: dict[str, FormatSpec] = {}
# lower-case name, alias, extension (with and without its dot) -> format name
_LOOKUP: dict[str, str] = {}
_PREFIXES: dict[str, str] = {}


def register(
    name: str,
    description: str,
    extensions: tuple[str, ...],
    reader: Callable,
    writer: Callable | None = None,
    **options,
) -> FormatSpec:
    """Add a format to :data:`FORMATS`; ``options`` are the other fields of :class:`FormatSpec`.

    Raises
    ------
    ValueError
        The name, an extension, an alias or a prefix is already registered (by any format), or an
        extension does not start with a dot.

    Examples
    --------
    >>> register("xyz2", "another XYZ", (".xyz",), reader=None)
    Traceback (most recent call last):
    ...
    ValueError: format 'xyz2': extension '.xyz' is already registered by format 'extxyz'
    """
    spec = FormatSpec(name, description, reader, tuple(extensions), writer, **options)
    if name in FORMATS:
        raise ValueError(f"format {name!r} is registered twice")
    for ext in spec.extensions:
        if not ext.startswith(".") or ext != ext.lower():
            raise ValueError(f"format {name!r}: extension {ext!r} must be lower case and start with '.'")
    if len(set(spec.extensions)) != len(spec.extensions):
        raise ValueError(f"format {name!r}: an extension is listed twice in {spec.extensions}")
    # an alias may repeat the format's own extension without its dot ("xyz" for ".xyz")
    keys = {k.lower() for k in (name, *spec.aliases, *spec.extensions, *(e[1:] for e in spec.extensions))}
    for key in sorted(keys):
        if key in _LOOKUP:
            what = "extension" if key.startswith(".") else "name or alias"
            raise ValueError(f"format {name!r}: {what} {key!r} is already registered by format {_LOOKUP[key]!r}")
    for prefix in spec.prefixes:
        if prefix.upper() in _PREFIXES:
            raise ValueError(f"format {name!r}: prefix {prefix!r} is already registered by format {_PREFIXES[prefix.upper()]!r}")
    FORMATS[name] = spec
    _LOOKUP.update(dict.fromkeys(keys, name))
    _PREFIXES.update(dict.fromkeys((p.upper() for p in spec.prefixes), name))
    return spec


def lookup(key: str) -> str | None:
    """The format a name, alias or extension (``"xyz"``, ``".json"``, ``"POSCAR"``) stands for."""
    return _LOOKUP.get(key.strip().lower())
