"""``structure-explorer featurize INPUT -o OUT.npz``: SOAP features of a dataset file, in batch.

The NPZ holds ``features`` (n_rows, n_features), ``feature_names``, ``feature_labels`` (integers
per column, named by ``feature_label_names`` as featomic names them), the row index
(``structure``, and ``atom`` and ``center_type`` in per-atom mode), the dataset's numeric and
categorical properties for those rows, and ``hypers`` (a JSON string of every hyperparameter);
the app's NPZ export has the same layout (:func:`compute.formats.npz.descriptor_arrays`). It loads with ``numpy.load`` without
pickle, and ``compute.datasets.read_dataset`` reads it back as a features table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from .datasets import DatasetError, read_dataset
from .descriptors import DESCRIPTORS, make_descriptor
from .formats.npz import descriptor_arrays

#: --spectrum (the older option) -> --descriptor
SPECTRA = {"power": "soap", "radial": "radial"}
#: descriptors whose columns have integer labels as featomic names them (``feature_labels``)
LABELLED = {"soap": "power", "radial": "radial"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="structure-explorer featurize",
        description="Compute SOAP features of every structure (or atom) of a dataset file and write them to an NPZ file.",
    )
    parser.add_argument("input", metavar="INPUT", help="file of structures (extended XYZ, CIF, POSCAR, .traj, .db, chemiscope JSON)")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.npz", help="NPZ file to write")
    parser.add_argument("--per", choices=["structure", "atom"], default="structure",
                        help="one row per structure (mean over its atoms, default) or per atom")
    parser.add_argument("--descriptor", choices=sorted(DESCRIPTORS), default=None,
                        help="; ".join(f"{name}: {label}" for name, (label, _) in DESCRIPTORS.items())
                        + " (default soap; bispectrum columns grow as (species · n_max)³: keep n_max small, or "
                          "give --compression)")
    parser.add_argument("--spectrum", choices=sorted(SPECTRA), default=None, help="older spelling: power (= --descriptor soap) or radial")
    parser.add_argument("--cutoff", type=float, default=5.0, help="cutoff radius in Å (default 5)")
    parser.add_argument("--n-max", type=int, default=8, help="number of radial functions (default 8)")
    parser.add_argument("--l-max", type=int, default=6, help="largest angular momentum (default 6)")
    parser.add_argument("--density-width", type=float, default=0.3, help="Gaussian atom density width in Å (default 0.3)")
    parser.add_argument("--smoothing-width", type=float, default=0.5, help="width of the cutoff's cosine smoothing in Å (default 0.5)")
    parser.add_argument("--center-weight", type=float, default=1.0, help="weight of the centre atom in its own density (default 1)")
    for name, (label, descriptors, low, high, default, kind) in _extra_options().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, metavar=kind.__name__.upper(),
                            help=f"{label}, {low:g}…{high:g}, default {default:g} (--descriptor {' or '.join(descriptors)} only)")
    parser.add_argument("--species", type=lambda s: [int(z) for z in s.split(",")], default=None, metavar="Z1,Z2,...",
                        help="atomic numbers fixing the columns (default: the elements of INPUT)")
    parser.add_argument("--backend", choices=["auto", "numpy", "numba", "cupy"], default="auto")
    parser.add_argument("--float32", action="store_true", help="store features as float32 (half the size)")
    parser.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="compute on a Dask cluster (e.g. tcp://host:8786; needs the 'distributed' extra)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _extra_options() -> dict:
    """name -> (label, descriptors taking it, min, max, default, int or float) of every extra
    hyperparameter of the registered descriptors (their ``EXTRA_HYPERS``)."""
    options: dict = {}
    for descriptor, (_, cls) in DESCRIPTORS.items():
        for name, label, low, high, step, default in cls.EXTRA_HYPERS:
            kind = int if all(isinstance(v, int) for v in (low, high, step, default)) else float
            known = options.setdefault(name, (label, [], low, high, default, kind))
            known[1].append(descriptor)
    return options


def _property_arrays(table: pd.DataFrame, rows: np.ndarray) -> dict[str, np.ndarray]:
    """Numeric columns as float arrays and categorical/text columns as fixed-width strings."""
    arrays = {}
    for column in table.columns:
        values = table[column].iloc[rows]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            arrays[str(column)] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arrays[str(column)] = np.array(values.astype("string").fillna("").tolist(), dtype=str)
    return arrays


def featurize(input_path, output_path, *, per="structure", spectrum=None, descriptor=None, species=None, backend="auto",
              dtype=np.float64, progress=True, scheduler=None, **hypers) -> dict:
    """Featurize one file and write the NPZ; returns a small summary (rows, features, seconds).

    ``descriptor``: a name of ``compute.descriptors.DESCRIPTORS`` (default ``"soap"``, the power
    spectrum; ``spectrum="power"|"radial"`` is the older spelling); ``hypers`` the common ones and
    the descriptor's ``EXTRA_HYPERS``. A descriptor that must be fitted (``bispectrum`` with
    ``compression=k``) is fitted on every atom of this file first. With ``scheduler`` (a Dask
    scheduler address) the chunks are computed on that cluster.
    """
    if descriptor is None:
        descriptor = SPECTRA[spectrum] if spectrum is not None else "soap"
    elif spectrum is not None and SPECTRA[spectrum] != descriptor:
        raise ValueError(f"--spectrum {spectrum} and --descriptor {descriptor} disagree: give one")
    import time

    from tqdm import tqdm

    dataset = read_dataset(input_path)
    if dataset.structures is None:
        raise DatasetError(f"{dataset.name}: this is a features table, it has no structures to featurize")
    calculator = make_descriptor(descriptor, **hypers, species=species)

    start = time.perf_counter()
    fitted = bool(getattr(calculator, "needs_fit", False))
    if fitted:  # transductive: the compression is learnt from the environments it then describes
        calculator.fit(dataset.structures, backend=backend)
    species = calculator.species_for(dataset.structures).tolist()
    with tqdm(total=dataset.n_structures, unit="structure", disable=not progress, file=sys.stderr) as bar:
        def report(done, total):
            bar.update(done - bar.n)

        if scheduler is None:
            features = calculator.compute(dataset.structures, per=per, backend=backend, dtype=dtype, progress=report)
        else:
            from dask.distributed import Client

            from .distributed import featurize_distributed

            with Client(scheduler) as client:
                features = featurize_distributed(client, calculator, dataset.structures, per=per, backend=backend,
                                                 dtype=dtype, progress=report)
    seconds = time.perf_counter() - start

    counts = np.array([len(atoms) for atoms in dataset.structures])
    if per == "structure":
        index = {"structure": np.arange(len(counts))}
        properties = _property_arrays(dataset.structure_properties, np.arange(len(counts)))
    else:
        index = {"structure": np.repeat(np.arange(len(counts)), counts),
                 "atom": np.concatenate([np.arange(n) for n in counts])}
        atom_table = dataset.atom_properties.drop(columns=["structure", "atom"], errors="ignore")
        properties = _property_arrays(atom_table, np.arange(len(atom_table)))
    properties = {k: v for k, v in properties.items() if k not in ("features", "feature_names", "hypers", *index)}
    if descriptor in LABELLED:
        described = descriptor_arrays(calculator, species, spectrum=LABELLED[descriptor], per=per, source=dataset.name,
                                      content_hash=dataset.content_hash)
    else:  # no integer labels for these columns: their names say them, the hypers say what they are
        names = ("cutoff", "n_max", "l_max", "density_width", "smoothing_width", "center_weight",
                 *(extra[0] for extra in type(calculator).EXTRA_HYPERS))
        record = {k: getattr(calculator, k) for k in names}
        if fitted:
            record["fitted_on"] = "every atom of the source"
        described = {"hypers": np.array(json.dumps(dict(record, per=per, spectrum=descriptor, species=species, source=dataset.name,
                                                        content_hash=dataset.content_hash), default=float))}
    if per == "atom":  # featomic's sample labels: system, atom, and the centre's type
        index["center_type"] = np.concatenate([atoms.numbers for atoms in dataset.structures]).astype(np.int64)
    properties = {k: v for k, v in properties.items() if k not in described and k != "center_type"}
    np.savez(
        output_path,
        features=features,
        feature_names=np.array(calculator.feature_names(species), dtype=str),
        **described,
        **index,
        **properties,
    )
    return {"rows": features.shape[0], "features": features.shape[1], "seconds": seconds}


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    output = Path(args.output)
    if output.suffix != ".npz":
        parser.error(f"output {args.output!r} must end in .npz")
    hypers = dict(cutoff=args.cutoff, n_max=args.n_max, l_max=args.l_max, density_width=args.density_width,
                  smoothing_width=args.smoothing_width, center_weight=args.center_weight)
    # only the extras given: each descriptor has its own defaults, and refuses those it lacks
    hypers.update({name: getattr(args, name) for name in _extra_options() if getattr(args, name) is not None})
    try:
        summary = featurize(args.input, output, per=args.per, spectrum=args.spectrum, descriptor=args.descriptor, species=args.species,
                            backend=args.backend, dtype=np.float32 if args.float32 else np.float64,
                            progress=not args.no_progress, scheduler=args.scheduler, **hypers)
    except (DatasetError, ValueError, OSError) as exc:
        print(f"structure-explorer featurize: error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {output}: {summary['rows']} rows × {summary['features']} features in {summary['seconds']:.1f} s")
    return 0
