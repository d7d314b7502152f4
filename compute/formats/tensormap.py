"""SOAP features as a metatensor ``TensorMap`` laid out as featomic 0.6 lays out its own.

Not a file format of :data:`~compute.formats.FORMATS` (nothing is read back from a TensorMap):
:func:`to_tensormap` turns the NPZ layout that the app's export and ``structure-explorer
featurize`` write (:func:`compute.formats.npz.descriptor_arrays`) into the object featomic's
``SoapPowerSpectrum(...).compute(frames)`` returns, so features computed here feed metatensor
tools (models, ``metatensor.operations``) as if featomic had computed them.

Our rows are dense: every row has every column, a species pair absent around a centre gives
zeros. featomic's map is sparse: one block per (``center_type``, ``neighbor_1_type``,
``neighbor_2_type``) that occurs, whose samples are the centres of that type having neighbours of
both types within the cutoff (the centre counting as its own neighbour). Such a centre has
non-zero features in that pair and any other has exactly zero ones, so the blocks and samples are
those rows whose pair of columns is not all zero. The one case this cannot see is a neighbour
whose smoothed weight is exactly zero (at exactly the cutoff radius, or the centre itself with
``center_weight=0``): featomic keeps such a sample with zero values, this leaves it out.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping

import numpy as np

from .npz import LABEL_NAMES

__all__ = ["to_tensormap"]

# the label columns featomic keeps as keys (after center_type); the rest are its properties
_KEY_COLUMNS = {"power": 2, "radial": 1}


def _metatensor():
    try:
        import metatensor
    except ImportError as exc:  # an optional dependency: say which package brings it
        raise ImportError(
            "to_tensormap needs the metatensor package, which is not installed: "
            "pip install metatensor-core (and metatensor-operations for mean_over_samples and friends)"
        ) from exc
    return metatensor


def _arrays(source) -> dict:
    """The NPZ's arrays, loaded without pickle, from bytes, a path or a mapping of arrays."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike, io.IOBase)):
        with np.load(source, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    if isinstance(source, Mapping) or hasattr(source, "files"):  # a dict, or numpy's NpzFile
        keys = source.files if hasattr(source, "files") else list(source)
        return {str(k): np.asarray(source[k]) for k in keys}
    raise TypeError(f"source must be NPZ bytes, a path or a mapping of arrays, not {type(source).__name__}")


def _spectrum(arrays: dict, hypers: dict) -> str:
    names = arrays.get("feature_label_names")
    if names is not None:
        names = tuple(str(n) for n in np.asarray(names).tolist())
        for spectrum, expected in LABEL_NAMES.items():
            if names == expected:
                return spectrum
        raise ValueError(f"feature_label_names {names} are not those of a SOAP power or radial spectrum "
                         f"({LABEL_NAMES['power']} or {LABEL_NAMES['radial']})")
    if hypers.get("spectrum") in LABEL_NAMES:
        return hypers["spectrum"]
    width = np.asarray(arrays["feature_labels"]).shape[1]
    for spectrum, expected in LABEL_NAMES.items():
        if width == len(expected):
            return spectrum
    raise ValueError(f"feature_labels with {width} columns are not those of a SOAP power (5) or radial (2) spectrum")


def _labels(metatensor, names, values) -> object:
    return metatensor.Labels(list(names), np.ascontiguousarray(np.asarray(values).reshape(-1, len(names)), dtype=np.int32))


def to_tensormap(source, *, per: str | None = None):
    """SOAP features of our NPZ layout as featomic's ``TensorMap`` (metatensor).

    Parameters
    ----------
    source : bytes, str, os.PathLike or mapping
        An NPZ written by the app's export or ``structure-explorer featurize`` (its bytes, its
        path, or its arrays: ``numpy.load(path, allow_pickle=False)`` or a dict) holding
        ``features``, ``feature_labels`` (one row of integers per column, every column of the
        spectrum), ``structure`` and, for rows per atom, ``atom`` and ``center_type``;
        ``feature_label_names`` and ``hypers`` when present say which spectrum it is.
    per : {"atom", "structure"}, optional
        The map to build; default: what the rows are (per atom when there is an ``atom`` array).

        * rows per atom, ``per="atom"``: featomic's map, keys ``center_type``,
          ``neighbor_1_type``, ``neighbor_2_type`` (radial: ``center_type``, ``neighbor_type``),
          samples ``system``, ``atom`` (the ``structure`` and ``atom`` of the rows), properties
          ``l``, ``n_1``, ``n_2`` (radial: ``n``);
        * rows per atom, ``per="structure"``: featomic's map reduced by
          ``metatensor.mean_over_samples(tensor, sample_names="atom")``: one block per centre
          type and neighbour pair as above, samples ``system``, each value the mean over that
          structure's centres of the block's type (those with the pair as neighbours);
        * rows per structure: our per-structure row is the mean over **all** atoms of the
          structure, whatever their type, so the means per centre type cannot be recovered from
          it. It is featomic's map after ``keys_to_properties`` of every neighbour pair (missing
          samples as zeros), ``keys_to_samples("center_type")`` and ``mean_over_samples`` over
          ``atom`` and ``center_type``: one block, key ``_`` = 0, samples ``system``, properties
          ``neighbor_1_type``, ``neighbor_2_type``, ``l``, ``n_1``, ``n_2``. For featomic's
          blocks per centre type, featurize per atom and ask for ``per="structure"``.

    Returns
    -------
    metatensor.TensorMap
        Values in float64; labels in int32, ordered as featomic orders them (keys and samples
        sorted, properties in column order).

    Raises
    ------
    ImportError
        metatensor is not installed.
    ValueError
        Arrays missing or of the wrong shapes, columns that are not a whole SOAP spectrum (a
        selection of feature columns), ``per="atom"`` for rows per structure.

    Examples
    --------
    >>> import numpy as np
    >>> from compute.descriptors import SoapPowerSpectrum
    >>> from ase.build import molecule
    >>> soap = SoapPowerSpectrum(cutoff=3.0, n_max=2, l_max=1)
    >>> water = molecule("H2O")
    >>> arrays = {"features": soap.compute(water, per="atom", backend="numpy"), "feature_labels": soap.feature_labels([1, 8]),
    ...           "structure": np.zeros(3, int), "atom": np.arange(3), "center_type": water.numbers}
    >>> tensor = to_tensormap(arrays)
    >>> tensor.keys.names, tensor.keys.values.tolist()[:3]
    (['center_type', 'neighbor_1_type', 'neighbor_2_type'], [[1, 1, 1], [1, 1, 8], [1, 8, 8]])
    >>> block = tensor.block({"center_type": 8, "neighbor_1_type": 1, "neighbor_2_type": 8})
    >>> block.samples.names, block.samples.values.tolist(), block.properties.names
    (['system', 'atom'], [[0, 0]], ['l', 'n_1', 'n_2'])
    """
    metatensor = _metatensor()
    arrays = _arrays(source)
    missing = [k for k in ("features", "feature_labels", "structure") if k not in arrays]
    if missing:
        raise ValueError(f"the NPZ has no {', '.join(repr(m) for m in missing)} array: write it with structure-explorer "
                         "featurize or the app's NPZ export of SOAP features (every column)")
    X = np.asarray(arrays["features"], dtype=np.float64)
    labels = np.asarray(arrays["feature_labels"])
    hypers = {}
    if "hypers" in arrays:
        hypers = json.loads(str(arrays["hypers"]))
    spectrum = _spectrum(arrays, hypers)
    names = LABEL_NAMES[spectrum]
    if X.ndim != 2 or labels.shape != (X.shape[1], len(names)) or labels.dtype.kind not in "iu":
        raise ValueError(f"features of shape {X.shape} and feature_labels of shape {labels.shape} {labels.dtype}: "
                         f"expected one row of {len(names)} integers ({', '.join(names)}) per feature column")
    structure = np.asarray(arrays["structure"]).astype(np.int64)
    if structure.shape != (X.shape[0],):
        raise ValueError(f"'structure' has shape {structure.shape} for {X.shape[0]} rows")
    rows_per = "atom" if "atom" in arrays else "structure"
    per = per or rows_per
    if per not in ("atom", "structure"):
        raise ValueError(f"per={per!r}: expected 'atom' or 'structure'")
    if rows_per == "structure":
        if per == "atom":
            raise ValueError("these rows are per structure (means over atoms): a map per atom needs features per atom")
        order = np.argsort(structure, kind="stable")
        block = metatensor.TensorBlock(
            values=np.ascontiguousarray(X[order]),
            samples=_labels(metatensor, ["system"], structure[order]),
            components=[],
            properties=_labels(metatensor, names, labels),
        )
        return metatensor.TensorMap(metatensor.Labels.single(), [block])

    if "center_type" not in arrays:
        raise ValueError("rows per atom need the 'center_type' array (the atomic number of each row's centre)")
    atom = np.asarray(arrays["atom"]).astype(np.int64)
    center = np.asarray(arrays["center_type"]).astype(np.int64)
    if atom.shape != structure.shape or center.shape != structure.shape:
        raise ValueError(f"'atom' {atom.shape} and 'center_type' {center.shape} need one value per row ({X.shape[0]})")
    # featomic's samples are in (system, atom) order
    order = np.lexsort((atom, structure))
    X, structure, atom, center = X[order], structure[order], atom[order], center[order]

    n_key = _KEY_COLUMNS[spectrum]
    pairs, pair_of_column = np.unique(labels[:, :n_key], axis=0, return_inverse=True)
    pair_of_column = pair_of_column.reshape(-1)
    keys, blocks = [], []
    for c in np.unique(center):
        rows = np.flatnonzero(center == c)
        for p, pair in enumerate(pairs):
            columns = np.flatnonzero(pair_of_column == p)
            values = X[np.ix_(rows, columns)]
            present = np.any(values != 0.0, axis=1)  # the centres with both neighbour types (module docstring)
            if not present.any():
                continue
            values = values[present]
            systems, atoms = structure[rows[present]], atom[rows[present]]
            if per == "structure":
                systems, inverse = np.unique(systems, return_inverse=True)
                sums = np.zeros((len(systems), values.shape[1]))
                np.add.at(sums, inverse.reshape(-1), values)
                values = sums / np.bincount(inverse.reshape(-1))[:, None]
                samples = _labels(metatensor, ["system"], systems)
            else:
                samples = _labels(metatensor, ["system", "atom"], np.stack([systems, atoms], axis=1))
            keys.append([int(c), *(int(z) for z in pair)])
            blocks.append(metatensor.TensorBlock(
                values=np.ascontiguousarray(values),
                samples=samples,
                components=[],
                properties=_labels(metatensor, names[n_key:], labels[columns, n_key:]),
            ))
    if not blocks:
        raise ValueError("every feature is zero: no centre has neighbours, there is no block to make")
    return metatensor.TensorMap(_labels(metatensor, ["center_type", *names[:n_key]], keys), blocks)
