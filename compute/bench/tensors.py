"""Learning vectors and tensors: test RMSE against training size, and fit / predict times.

Models, each on the same random splits (test RMSE over all Cartesian components, the mean over
``--repeats`` splits):

* scalar ridge — :class:`compute.models.RidgeModel` on the SOAP power spectrum summed over atoms,
  one output per Cartesian component (it cannot know how the target rotates);
* scalar KRR — :class:`compute.models.KernelRidgeModel` with the SOAP kernel (ζ = 2), same;
* linear — :class:`compute.tensors.TensorRidge` (λ-SOAP, equivariant);
* kernel — :class:`compute.tensors.TensorKernelRidge` (SA-GPR, ζ = 2): exact on showcase.xyz
  (and on the synthetic set with ``--exact``), with ``--n-active`` active environments on the
  synthetic set.

Data: ``tests/data/showcase.xyz`` (29 molecules, chemiscope's example: ``dipole_ccsd``, 3
components; ``ccsd_pol``, 6 components xx yy zz xy xz yz), and sample molecules turned at random
with smooth synthetic local dipoles / polarizabilities (:func:`local_targets`, the tests' data).
Times are of fitting (α chosen by CV included) and predicting from features already computed
(the descriptors are timed on their own), at the largest training size. Last, ``--scale``: one
sparse-kernel fit on thousands of structures read from the frames in batches, with its time and
peak memory. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

from ..descriptors import EquivariantPowerSpectrum, SoapPowerSpectrum
from ..systems import neighbor_pairs

ROOT = Path(__file__).resolve().parents[2]
SHOWCASE = ROOT / "tests" / "data" / "showcase.xyz"
SAMPLE = ROOT / "sample_datasets" / "small_molecules-1000.xyz"
CHARGES = {1: 0.3, 6: -0.1, 7: -0.4, 8: -0.5, 9: -0.6, 16: 0.2, 17: -0.3}
SHOWCASE_HYPERS = dict(cutoff=4.0, n_max=4, l_max=3, density_width=0.4)
SYNTHETIC_HYPERS = dict(cutoff=4.0, n_max=3, l_max=2, density_width=0.4)


def turned_molecules(n: int, seed: int = 0, path=SAMPLE) -> list:
    """The first ``n`` sample molecules, centred and each turned by its own random rotation
    (beyond the file's 985, its molecules again, turned differently)."""
    import ase.io
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(seed)
    source = ase.io.read(path, f":{n}")
    frames = [source[k % len(source)].copy() for k in range(n)]
    for atoms in frames:
        rotation = Rotation.random(random_state=int(rng.integers(1 << 30))).as_matrix()
        atoms.positions = (atoms.positions - atoms.positions.mean(axis=0)) @ rotation.T
        atoms.pbc = False
    return frames


def local_targets(atoms):
    """(dipole (3,), polarizability (3, 3)) of smooth local bond terms within 4 Å: bond dipoles
    from partial-charge differences, bond polarizabilities on a per-atom isotropic part. Known
    functions of the geometry, so a learning curve measures the model, not noise in the data."""
    pairs = neighbor_pairs([atoms], 4.0)
    weight = np.exp(-pairs.distances ** 2 / 2) * (1 + 0.5 * np.cos(np.pi * pairs.distances / 4))
    charge = np.array([CHARGES.get(int(z), 0.0) for z in atoms.numbers])
    bond = pairs.vectors / pairs.distances[:, None]
    dipole = ((weight * (charge[pairs.neighbors] - charge[pairs.centers]))[:, None] * bond).sum(axis=0)
    polarizability = (0.5 + np.abs(charge)).sum() * np.eye(3) + np.einsum("p,pi,pj->ij", weight, bond, bond)
    return dipole, polarizability


def _six(T: np.ndarray) -> np.ndarray:
    return np.stack([T[:, 0, 0], T[:, 1, 1], T[:, 2, 2], T[:, 0, 1], T[:, 0, 2], T[:, 1, 2]], axis=1)


def _models(rank: int, hypers: dict, n_active: int | None, exact: bool = True):
    from ..models import KernelRidgeModel, RidgeModel
    from ..tensors import TensorKernelRidge, TensorRidge

    equivariant = EquivariantPowerSpectrum(**hypers)
    models = {"scalar ridge": lambda: RidgeModel(), "scalar KRR": lambda: KernelRidgeModel(kernel="soap", zeta=2),
              "linear": lambda: TensorRidge(rank, equivariant, backend="numba"),
              "kernel": lambda: TensorKernelRidge(rank, equivariant, zeta=2, n_active=None, backend="numba")}
    if not exact:
        del models["kernel"]
    if n_active:
        models[f"kernel, {n_active} active"] = lambda: TensorKernelRidge(rank, equivariant, zeta=2, n_active=n_active, backend="numba")
    return models


def _curve(frames, Y, rank, sizes, n_test, repeats, hypers, n_active, exact=True):
    """{model: (rmse per size (mean over splits), fit s, predict s at the largest size)}."""
    from ..tensors import take_rows

    Y6 = Y if rank == 1 else _six(Y)
    models = _models(rank, hypers, n_active, exact)
    start = time.perf_counter()
    soap = SoapPowerSpectrum(**hypers).compute(frames, per="structure", backend="numba")
    soap *= np.array([len(a) for a in frames])[:, None]  # sums over atoms: the targets are sums too
    seconds = {"SOAP": time.perf_counter() - start}
    features = {}
    for name, make in models.items():
        if name.startswith("scalar"):
            continue
        start = time.perf_counter()
        model = make()
        features[name] = model.features(frames, model._descriptor().species_for(frames))
        seconds[name] = time.perf_counter() - start
    print("  features: " + ", ".join(f"{name} {s:.2f} s" for name, s in seconds.items()), flush=True)
    results = {name: [np.zeros(len(sizes)), 0.0, 0.0] for name in models}
    for repeat in range(repeats):
        order = np.random.default_rng(repeat).permutation(len(frames))
        test, pool = order[:n_test], order[n_test:]
        for k, size in enumerate(sizes):
            train = pool[:size]
            for name, make in models.items():
                model = make()
                start = time.perf_counter()
                if name.startswith("scalar"):
                    with warnings.catch_warnings():  # "alpha at the end of the grid": it cannot know the orientation
                        warnings.simplefilter("ignore", UserWarning)
                        model.fit(soap[train], Y6[train])
                    fitted = time.perf_counter()
                    predicted = model.predict(soap[test])
                else:
                    model.fit_features(take_rows(features[name], train), Y[train])
                    fitted = time.perf_counter()
                    predicted = model.predict_features(take_rows(features[name], test))
                    predicted = predicted if rank == 1 else _six(predicted)
                done = time.perf_counter()
                results[name][0][k] += np.sqrt(np.mean((predicted - Y6[test]) ** 2)) / repeats
                if k == len(sizes) - 1:
                    results[name][1] += (fitted - start) / repeats
                    results[name][2] += (done - fitted) / repeats
    return results


def _spread(Y6: np.ndarray) -> float:
    """RMS deviation from each component's mean: the error of the best constant guess."""
    return float(np.sqrt(np.mean((Y6 - Y6.mean(axis=0)) ** 2)))


def _report(title, results, sizes, spread):
    print(f"{title}   (test RMSE; spread, RMS about each component's mean: {spread:.4g})")
    print(f"  {'model':<22}" + "".join(f"{'n=' + str(s):>9}" for s in sizes) + f"{'fit s':>9}{'pred s':>9}")
    for name, (rmse, fit, predict) in results.items():
        print(f"  {name:<22}" + "".join(f"{e:9.4f}" for e in rmse) + f"{fit:9.3f}{predict:9.3f}")
    print(flush=True)


def _scale(n: int, n_active: int) -> None:
    """One sparse-kernel fit of polarizabilities on ``n`` structures from the frames (batches),
    and predictions for them: seconds and the growth of peak memory."""
    from ..tensors import TensorKernelRidge

    frames = turned_molecules(n, seed=1)
    Y = np.array([local_targets(a)[1] for a in frames])
    model = TensorKernelRidge(2, EquivariantPowerSpectrum(**SYNTHETIC_HYPERS), zeta=2, n_active=n_active, backend="numba")
    model.fit(frames[:20], Y[:20])  # compiled once before timing
    tracemalloc.start()  # NumPy reports its arrays to tracemalloc: the peak of what the fit holds
    start = time.perf_counter()
    model.fit(frames, Y)
    fitted = time.perf_counter()
    predicted = model.predict(frames)
    done = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    n_atoms = sum(len(a) for a in frames)
    print(f"scale: sparse kernel ({n_active} active), polarizabilities of {n} structures ({n_atoms} atoms), from the frames: "
          f"fit {fitted - start:.1f} s, predict {done - fitted:.1f} s, peak NumPy memory {peak:.0f} MiB "
          f"(process peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB); "
          f"columns {[model.projector_[lam].shape[1] for lam in model.lambdas]}; training RMSE "
          f"{np.sqrt(np.mean((predicted - Y) ** 2)):.4f} (spread {_spread(_six(Y)):.3f})", flush=True)


def main(argv=None) -> int:
    import ase.io

    parser = argparse.ArgumentParser(prog="python -m compute.bench tensors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="random splits averaged (default 5)")
    parser.add_argument("--synthetic", type=int, default=500, help="synthetic molecules (default 500; 0: none, at most 985)")
    parser.add_argument("--n-active", type=int, default=300, help="active environments of the sparse kernel (default 300)")
    parser.add_argument("--skip-showcase", action="store_true")
    parser.add_argument("--exact", action="store_true", help="the exact kernel on the synthetic set too (slow: atoms squared)")
    parser.add_argument("--scale", type=int, default=2000,
                        help="structures of a sparse-kernel polarizability fit read in batches, for time and memory (default 2000; 0: skip)")
    args = parser.parse_args(argv)
    if not args.skip_showcase:
        frames = ase.io.read(SHOWCASE, ":")
        dipoles = np.array([a.info["dipole_ccsd"] for a in frames])
        polar = np.array([a.info["ccsd_pol"] for a in frames])
        from ..tensors import symmetric_matrices

        sizes, n_test = [5, 10, 15, 20], 9
        print(f"showcase.xyz: {len(frames)} molecules, {sum(len(a) for a in frames)} atoms; test {n_test}, "
              f"{args.repeats} splits; hypers {SHOWCASE_HYPERS}")
        _report("dipole_ccsd (3)", _curve(frames, dipoles, 1, sizes, n_test, args.repeats, SHOWCASE_HYPERS, None), sizes, _spread(dipoles))
        _report("ccsd_pol (6: xx yy zz xy xz yz)",
                _curve(frames, symmetric_matrices(polar), 2, sizes, n_test, args.repeats, SHOWCASE_HYPERS, None), sizes, _spread(polar))
    if args.synthetic:
        frames = turned_molecules(min(args.synthetic, 985))
        n = len(frames)
        targets = [local_targets(a) for a in frames]
        n_test = max(20, n // 5)
        sizes = [s for s in (25, 50, 100, 200, 400, 800) if s <= n - n_test]
        repeats = max(1, args.repeats // 3)
        print(f"synthetic: {n} turned sample molecules, {sum(len(a) for a in frames)} atoms; test {n_test}, {repeats} split(s); "
              f"hypers {SYNTHETIC_HYPERS}")
        for rank, title in ((1, "local dipoles (3)"), (2, "local polarizabilities (6)")):
            Y = np.array([t[rank - 1] for t in targets])
            _report(title, _curve(frames, Y, rank, sizes, n_test, repeats, SYNTHETIC_HYPERS, args.n_active, exact=args.exact), sizes,
                    _spread(Y if rank == 1 else _six(Y)))
    if args.scale:
        _scale(args.scale, args.n_active)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
