"""CIF files: structures, through ASE's CIF parser."""

from __future__ import annotations

import io

from ._common import Parts, ase_iread, structures_parts
from ._registry import register

__all__ = ["read_cif"]


def read_cif(data: bytes, name: str) -> Parts:
    return structures_parts(ase_iread(io.BytesIO(data), "cif", name, "CIF"), name)


register("cif", "CIF", (".cif",), read_cif)
