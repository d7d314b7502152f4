"""NICE compression of the ν=3 invariants: feature count, cost and accuracy against k.

Data: ``small_molecules-1000.xyz`` (985 organic molecules, H C N O, 17,743 atoms, DFT formation
energy per atom; librascal's test inputs, see sample_datasets/README.md). Features per structure
(the mean over its atoms) of the plain ν=2 power spectrum, the full ν=3 bispectrum and the
NICE-compressed ν=3 (``SoapBispectrum(compression=k)``) for a few k, all with the same expansion.
Each is timed on all 985 molecules after a warm-up call (the best of ``--repeats``); the
compression (per-λ PCA of the ν=2 blocks) is fitted on ``--fit-atoms`` atoms drawn at random from
the 700 molecules of the training pool (never the test molecules), timed apart. Accuracy: a linear ridge model (features centred and scaled to unit total
variance on the training rows, α by leave-one-out among 10⁻⁹…10), trained on the first 100 / 300 /
700 molecules of a shuffled training pool and tested on 285 molecules it never saw; the RMSE is in
meV/atom. Linear in the features, so the model's body order is the descriptor's.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from ..descriptors import SoapBispectrum, SoapPowerSpectrum

SOURCES = (Path("/work/shared/data/small_molecules-1000.xyz"),
           Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz")
PROPERTY = "dft_formation_energy_per_atom_in_eV"
HYPERS = dict(cutoff=5.0, n_max=4, l_max=3, density_width=0.3, smoothing_width=0.5)
N_TEST = 285
ALPHAS = np.geomspace(1e-9, 10.0, 21)


def _read():
    import ase.io

    source = next((p for p in SOURCES if p.is_file()), None)
    if source is None:
        raise SystemExit(f"no data file: looked for {', '.join(map(str, SOURCES))}")
    frames = ase.io.read(source, ":")
    return frames, np.array([atoms.info[PROPERTY] for atoms in frames])


def _best_time(function, repeats: int):
    """(best wall seconds, best CPU seconds of this process, result): on a shared machine the CPU
    time is disturbed less by the others' load than the wall clock."""
    wall, cpu, result = np.inf, np.inf, None
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall, cpu = min(wall, time.perf_counter() - start), min(cpu, time.process_time() - start_cpu)
    return wall, cpu, result


def ridge_rmse(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray) -> float:
    """Test RMSE of a ridge model on the ``train`` rows (α by efficient leave-one-out)."""
    from sklearn.linear_model import RidgeCV

    mean = X[train].mean(axis=0)
    scale = np.sqrt(((X[train] - mean) ** 2).sum(axis=1).mean()) or 1.0  # one scale: α means the same for all
    model = RidgeCV(alphas=ALPHAS).fit((X[train] - mean) / scale, y[train])
    predicted = model.predict((X[test] - mean) / scale)
    return float(np.sqrt(np.mean((predicted - y[test]) ** 2)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute.bench nice", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ks", default="4,16,64", help="compressions k, comma-separated (default 4,16,64)")
    parser.add_argument("--sizes", default="100,300,700", help="training sizes (default 100,300,700; at most 700)")
    parser.add_argument("--n-max", type=int, default=HYPERS["n_max"])
    parser.add_argument("--l-max", type=int, default=HYPERS["l_max"])
    parser.add_argument("--fit-atoms", type=int, default=4000,
                        help="atoms of the training pool the compression is fitted on (default 4000; 0: all 12,600 or so)")
    parser.add_argument("--no-full", action="store_true", help="skip the uncompressed ν=3 (its columns grow as (species·n_max)³)")
    parser.add_argument("--repeats", type=int, default=1, help="timing rounds, best kept (default 1)")
    parser.add_argument("--backend", default="numba", choices=["numpy", "numba", "cupy"])
    args = parser.parse_args(argv)
    hypers = dict(HYPERS, n_max=args.n_max, l_max=args.l_max)
    ks = [int(k) for k in args.ks.split(",")]
    sizes = [int(n) for n in args.sizes.split(",")]

    frames, y = _read()
    order = np.random.default_rng(0).permutation(len(frames))
    test, pool = order[:N_TEST], order[N_TEST:]
    if max(sizes) > len(pool):
        raise SystemExit(f"--sizes: at most {len(pool)} training molecules")
    species = SoapPowerSpectrum(**hypers).species_for(frames)
    pool_frames = [frames[i] for i in pool]
    pool_atoms = sum(len(a) for a in pool_frames)
    fit_rows = None
    if 0 < args.fit_atoms < pool_atoms:  # a PCA of a few hundred columns needs a few thousand samples, not all
        fit_rows = np.sort(np.random.default_rng(1).choice(pool_atoms, args.fit_atoms, replace=False))

    candidates = [("ν=2 power spectrum", SoapPowerSpectrum(**hypers))]
    candidates += [(f"ν=3 NICE k={k}", SoapBispectrum(**hypers, compression=k)) for k in ks]
    if not args.no_full:
        candidates.append(("ν=3 full", SoapBispectrum(**hypers)))

    print(f"{len(frames)} molecules ({sum(len(a) for a in frames)} atoms), {PROPERTY}; hypers {hypers}; "
          f"backend {args.backend}, cores: {os.cpu_count()}; compression fitted on {len(fit_rows) if fit_rows is not None else pool_atoms} "
          f"atoms of the pool; test {N_TEST} molecules, RMSE in meV/atom "
          f"(std of the test targets: {1000 * y[test].std():.1f})", flush=True)
    print(f"{'descriptor':<22}{'features':>9}{'fit s (cpu)':>14}{'compute s (cpu)':>17}" + "".join(f"{f'n={n}':>9}" for n in sizes),
          flush=True)
    SoapPowerSpectrum(**hypers).compute(frames[:2], backend=args.backend)  # compiles the kernels once
    for name, calculator in candidates:
        fit = ""
        if getattr(calculator, "needs_fit", False):
            wall, cpu, _ = _best_time(lambda: calculator.fit(pool_frames, backend=args.backend, species=species,
                                                             selected_samples=fit_rows), args.repeats)
            fit = f"{wall:.1f} ({cpu:.1f})"
        calculator.compute(frames[:2], per="structure", backend=args.backend, species=species)  # warm-up
        wall, cpu, X = _best_time(lambda: calculator.compute(frames, per="structure", backend=args.backend, species=species),
                                  args.repeats)
        errors = [1000 * ridge_rmse(X, y, pool[:n], test) for n in sizes]
        timing = f"{wall:.1f} ({cpu:.1f})"
        print(f"{name:<22}{X.shape[1]:>9}{fit:>14}{timing:>17}" + "".join(f"{e:>9.1f}" for e in errors), flush=True)
    return 0
