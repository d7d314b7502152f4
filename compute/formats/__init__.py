"""One module per file format, each holding its reader and, where there is one, its writer.

Every module registers its format with one :func:`register` call (name, extensions, reader,
writer); :func:`compute.datasets.read_dataset` dispatches through :data:`FORMATS` and
:mod:`compute.export` re-exports the writers.

==============  ====================================  ================================
module          reader                                writer
==============  ====================================  ================================
``extxyz``      extended XYZ / XYZ                    :func:`~.extxyz.to_extxyz`
``cif``         CIF                                   --
``vasp``        POSCAR / CONTCAR                      --
``traj``        ASE trajectory (ULM)                  --
``db``          ASE SQLite database                   :func:`~.db.to_ase_db`
``chemiscope``  chemiscope JSON                       :func:`~.chemiscope.to_chemiscope`
``csv``         CSV features table                    :func:`~.csv.to_csv`
``npz``         NPZ features table                    :func:`~.npz.to_npz`
==============  ====================================  ================================

:mod:`.tensormap` is a writer only, not a registered format: :func:`~.tensormap.to_tensormap`
turns SOAP features of the NPZ layout into featomic's metatensor ``TensorMap``.
"""

from __future__ import annotations

from ._registry import FORMATS, FormatSpec, lookup, register

# importing a format module registers it; this order is the order of FORMATS
from . import extxyz, cif, vasp, traj, db, chemiscope, csv, npz  # noqa: F401, I001

__all__ = ["FORMATS", "FormatSpec", "lookup", "register"]
