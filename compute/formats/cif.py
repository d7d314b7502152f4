"""CIF files: structures, through ASE's CIF parser."""

from __future__ import annotations

import io

from ..datasets import Dataset
from ._common import ase_iread, structures_dataset
from ._registry import register

__all__ = ["read_cif"]


def read_cif(data: bytes, name: str) -> Dataset:
    return structures_dataset(ase_iread(io.BytesIO(data), "cif", name, "CIF"), name)


register("cif", "CIF", (".cif",), read_cif)
