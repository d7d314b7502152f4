"""Writers for what a user selected: extended XYZ, CSV, NPZ, chemiscope JSON and ASE databases, as ``bytes``.

Each writer lives with its format's reader in :mod:`compute.formats` (``formats.extxyz``,
``formats.csv``, ``formats.npz``, ``formats.chemiscope``); this module is their public entry.

Each writer takes the :class:`~compute.datasets.Dataset` (or a feature matrix) and a selection of
row indices and returns the file's content; the app sends it as a download and the command line
writes it where the user asked. Nothing here opens a file, so no name chosen by a client ever
becomes a path.

Rows are **structures** (``per="structure"``, the default: row ``i`` is ``dataset.structures[i]``
and ``dataset.structure_properties.iloc[i]``) or **atoms** (``per="atom"``: row ``r`` is
``dataset.atom_properties.iloc[r]``, the centre of environment ``r`` in a per-atom map, in the
order :meth:`compute.descriptors.SoapPowerSpectrum.compute` gives them with ``per="atom"``).

Rules shared by every writer:

* an empty selection raises ``ValueError("nothing selected ...")``; indices out of range, repeated,
  or not integers raise a ``ValueError`` that names them; a boolean mask with one entry per row is
  accepted too;
* arrays given with the selection (map coordinates, predictions, errors, cluster labels) hold
  **one value per selected row**, in the order of ``indices``;
* feature names travel with every features export.

Summary:

=====================  =======================================================================
:func:`to_extxyz`       selected structures (or the structures holding the selected atoms, with a
                        per-atom ``selected`` flag) with their properties; reads back with
                        :func:`compute.datasets.read_dataset`
:func:`to_csv`          ``index``, the given columns, then the rows' properties
:func:`to_npz`          ``features``, ``feature_names``, ``index`` and extras; a features table
                        for :func:`~compute.datasets.read_dataset`
:func:`to_chemiscope`   a chemiscope input file (``.json`` or ``.json.gz``) with the map
                        coordinates as properties and settings pointing the map at them
:func:`to_ase_db`       selected structures as an ASE SQLite database (``ase.db``): properties as
                        key-value pairs, calculator results or ``data``; reads back with
                        :func:`compute.datasets.read_dataset`
:func:`to_tensormap`    SOAP features of our NPZ layout as featomic's metatensor ``TensorMap``
                        (needs metatensor; see :mod:`compute.formats.tensormap`)
=====================  =======================================================================
"""

from __future__ import annotations

from .formats.chemiscope import DEFAULT_CUTOFF, to_chemiscope
from .formats.csv import to_csv
from .formats.db import to_ase_db
from .formats.extxyz import to_extxyz
from .formats.npz import to_npz
from .formats.tensormap import to_tensormap

__all__ = ["DEFAULT_CUTOFF", "to_ase_db", "to_chemiscope", "to_csv", "to_extxyz", "to_npz", "to_tensormap"]
