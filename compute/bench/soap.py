"""SOAP throughput of every available backend next to featomic, on the same structures.

Workload (issue 2): 40 rattled Cu/Au fcc cells of 256 atoms, cutoff 5 Å, n_max 8, l_max 6,
density width 0.3 Å, per-atom output. Backends and featomic are timed in interleaved rounds after
a warm-up call, each using every core; the best round is reported. ``--large N`` also streams
per-structure features of N small molecules (the sample dataset, repeated and rattled) and
reports the peak resident memory, to show that it stays bounded by one batch. ``--selected``
(default on) times per-atom features of 100 centres of a 10,000-atom file against all of them,
ours and featomic's (both with ``selected_samples``).
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import numpy as np

from .. import _dispatch
from ..descriptors import SoapPowerSpectrum
from . import rattled_copies

#: compute imports nothing of the app: the sample molecules are read from the checkout
SAMPLE_MOLECULES = Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz"
HYPERS = dict(cutoff=5.0, n_max=8, l_max=6, density_width=0.3, smoothing_width=0.5)


def copper_gold_cells(n_cells: int = 40, seed: int = 0) -> list:
    """Random Cu/Au fcc alloys, 4×4×4 cubic cells (256 atoms), positions rattled by 0.1 Å."""
    from ase.build import bulk

    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_cells):
        atoms = bulk("Cu", "fcc", a=3.8, cubic=True).repeat((4, 4, 4))
        atoms.numbers[rng.random(len(atoms)) < 0.5] = 79
        atoms.rattle(0.1, seed=seed + k)
        frames.append(atoms)
    return frames


def _featomic_calculator():
    try:
        import featomic
    except ImportError:
        return None
    return featomic.SoapPowerSpectrum(
        cutoff={"radius": HYPERS["cutoff"], "smoothing": {"type": "ShiftedCosine", "width": HYPERS["smoothing_width"]}},
        density={"type": "Gaussian", "width": HYPERS["density_width"]},
        basis={"type": "TensorProduct", "max_angular": HYPERS["l_max"], "radial": {"type": "Gto", "max_radial": HYPERS["n_max"] - 1}},
    )


def _synchronize(backend: str) -> None:
    if backend == "cupy":
        _dispatch.cupy_module().cuda.Device().synchronize()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best_of(runners: dict, repeats: int) -> dict:
    """Best wall time of each runner over ``repeats`` interleaved rounds, after a warm-up call
    (JIT compilation, spline tables, GPU context)."""
    for run in runners.values():
        run()
    best = {name: float("inf") for name in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def run_throughput(backends, n_cells: int, repeats: int) -> dict:
    frames = copper_gold_cells(n_cells)
    n_atoms = sum(len(a) for a in frames)
    soap = SoapPowerSpectrum(**HYPERS)
    runners = {}
    for backend in backends:
        def run(backend=backend):
            soap.compute(frames, per="atom", backend=backend, return_device_array=True)
            _synchronize(backend)

        runners[f"ours ({backend})"] = run
    featomic_calculator = _featomic_calculator()
    if featomic_calculator is not None:
        runners["featomic"] = lambda: featomic_calculator.compute(frames)

    best = _best_of(runners, repeats)
    print(f"{n_cells} Cu/Au fcc cells, {n_atoms} atoms, per-atom power spectrum, hypers {HYPERS}")
    print(f"cores: {os.cpu_count()}, numba threads: {_numba_threads()}, best of {repeats} rounds")
    reference = best.get("featomic")
    print(f"{'implementation':<20}{'seconds':>10}{'atoms/s':>12}{'vs featomic':>14}")
    for name, seconds in best.items():
        ratio = f"{reference / seconds:13.2f}x" if reference else "            -"
        print(f"{name:<20}{seconds:10.3f}{n_atoms / seconds:12.0f}{ratio}")
    return {name: n_atoms / seconds for name, seconds in best.items()}


def run_large(n_molecules: int, backend: str, molecules: Path) -> None:
    """Per-structure features of many small molecules, streamed batch by batch."""
    import ase.io

    frames = rattled_copies(ase.io.read(molecules, ":"), n_molecules, scale=0.02)
    n_atoms = sum(len(a) for a in frames)
    soap = SoapPowerSpectrum(**HYPERS)
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    checksum = 0.0
    for _, rows in soap.iter_compute(frames, per="structure", backend=backend):
        checksum += float(rows[:, 0].sum())  # stands for writing the batch to disk
    seconds = time.perf_counter() - start
    n_features = soap.n_features(len(soap.species_for(frames)))
    print(
        f"{n_molecules} molecules ({n_atoms} atoms), per-structure, streamed, {backend}: {seconds:.1f} s, "
        f"{n_atoms / seconds:.0f} atoms/s; peak RSS {_peak_rss_mb():.0f} MB (before: {rss_before:.0f} MB "
        f"with the structures loaded); the full float64 result would be "
        f"{n_molecules * n_features * 8 / 2**20:.0f} MB"
    )


def run_selected(n_atoms: int, n_selected: int, backend: str, molecules: Path, repeats: int) -> None:
    """Per-atom features of a few selected centres against all centres of the same file."""
    import ase.io

    source = ase.io.read(molecules, ":")
    frames, total = [], 0
    while total < n_atoms:
        frames.append(source[len(frames) % len(source)])
        total += len(frames[-1])
    chosen = np.sort(np.random.default_rng(0).choice(total, n_selected, replace=False))
    soap = SoapPowerSpectrum(**HYPERS)
    runners = {
        f"ours ({backend}), all": lambda: soap.compute(frames, backend=backend),
        f"ours ({backend}), selected": lambda: soap.compute(frames, backend=backend, selected_samples=chosen),
    }
    featomic_calculator = _featomic_calculator()
    if featomic_calculator is not None:
        import metatensor

        offsets = np.concatenate([[0], np.cumsum([len(a) for a in frames])])
        system = np.searchsorted(offsets, chosen, side="right") - 1
        labels = metatensor.Labels(["system", "atom"], np.stack([system, chosen - offsets[system]], axis=1).astype(np.int32))
        runners["featomic, all"] = lambda: featomic_calculator.compute(frames)
        runners["featomic, selected"] = lambda: featomic_calculator.compute(frames, selected_samples=labels)
    best = _best_of(runners, repeats)
    print(f"per-atom power spectrum of {n_selected} selected centres of {total} atoms ({len(frames)} molecules), "
          f"best of {repeats}")
    print(f"{'implementation':<28}{'seconds':>10}{'vs all':>10}")
    for name, seconds in best.items():
        whole = best[name.replace("selected", "all")]
        print(f"{name:<28}{seconds:10.4f}{seconds / whole:10.3f}")


def _numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute.bench soap", description=__doc__)
    available = ["numpy", "numba"] + (["cupy"] if _dispatch.cupy_available() else [])
    parser.add_argument("--backend", action="append", choices=["numpy", "numba", "cupy"],
                        help=f"backend(s) to time (default: {', '.join(available)})")
    parser.add_argument("--cells", type=int, default=40, help="number of 256-atom cells (default 40)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", type=int, default=0, metavar="N",
                        help="also stream per-structure features of N small molecules and report peak memory")
    parser.add_argument("--molecules", type=Path, default=SAMPLE_MOLECULES, metavar="XYZ",
                        help="molecules repeated (rattled) for --large (default: the checkout's sample dataset)")
    parser.add_argument("--no-selected", dest="selected", action="store_false",
                        help="skip the selected-centres benchmark (100 of 10,000 atoms)")
    args = parser.parse_args(argv)
    backends = args.backend or available
    run_throughput(backends, args.cells, args.repeats)
    if args.selected:
        run_selected(10_000, 100, "cupy" if "cupy" in backends else "numba", args.molecules, args.repeats)
    if args.large:
        run_large(args.large, "cupy" if "cupy" in backends else "numba", args.molecules)
    return 0
