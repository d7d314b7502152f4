"""VASP POSCAR/CONTCAR files: one structure, through ASE's reader once the announced atom counts
are known to fit the file and the budget."""

from __future__ import annotations

import io
import re

from .. import budget
from ..datasets import Dataset, DatasetError
from ._common import ase_iread, decode_text, structures_dataset, within_budget
from ._registry import register

__all__ = ["read_vasp"]


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
        within_budget(name, budget.check_counts, [sum(counts)])
        if sum(counts) > len(lines):
            raise DatasetError(
                f"{name}: announces {sum(counts)} atoms but has only {len(lines)} lines: the file is"
                " truncated or the counts are wrong."
            )
        return


def read_vasp(data: bytes, name: str) -> Dataset:
    text = decode_text(data)
    _check_poscar_atom_count(text, name)
    return structures_dataset(ase_iread(io.StringIO(text), "vasp", name, "POSCAR/CONTCAR"), name)


register("vasp", "VASP POSCAR/CONTCAR", (".vasp", ".poscar"), read_vasp, prefixes=("POSCAR", "CONTCAR"), aliases=("poscar", "contcar"))
