"""λ-SOAP and ν=3 invariants next to featomic's clebsch_gordan, on the same cells and hypers.

Workload: Cu/Au fcc cells of 256 atoms (as ``compute.bench soap``), r_c 5 Å, density width 0.3 Å,
per-atom output, fewer cells and smaller n_max / l_max than the power-spectrum benchmark: λ-SOAP
of every (λ, σ) at n_max 8, l_max 6 holds ~256,000 numbers per atom (21 GB for the 40 cells), more
than this machine has, for either library. Each side is timed after a warm-up call, the best of
``--repeats`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from ..descriptors import EquivariantPowerSpectrum, SoapBispectrum
from .soap import _best_of, copper_gold_cells

LAMBDA_HYPERS = dict(cutoff=5.0, n_max=4, l_max=3, density_width=0.3, smoothing_width=0.5)
NU3_HYPERS = dict(cutoff=5.0, n_max=3, l_max=3, density_width=0.3, smoothing_width=0.5)


def _featomic_expansion(hypers):
    import featomic

    return featomic.SphericalExpansion(
        cutoff={"radius": hypers["cutoff"], "smoothing": {"type": "ShiftedCosine", "width": hypers["smoothing_width"]}},
        density={"type": "Gaussian", "width": hypers["density_width"]},
        basis={"type": "TensorProduct", "max_angular": hypers["l_max"], "radial": {"type": "Gto", "max_radial": hypers["n_max"] - 1}},
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute.bench descriptors", description=__doc__)
    parser.add_argument("--cells", type=int, default=4, help="number of 256-atom cells (default 4)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default="numba", choices=["numpy", "numba", "cupy"])
    args = parser.parse_args(argv)
    frames = copper_gold_cells(args.cells)
    n_atoms = sum(len(a) for a in frames)
    species = [29, 79]
    eq = EquivariantPowerSpectrum(**LAMBDA_HYPERS)
    b3 = SoapBispectrum(**NU3_HYPERS)
    runners = {
        f"λ-SOAP, ours ({args.backend})": lambda: eq.compute(frames, backend=args.backend),
        f"ν=3, ours ({args.backend})": lambda: b3.compute(frames, backend=args.backend),
    }
    try:
        import metatensor
        from featomic.clebsch_gordan import DensityCorrelations, EquivariantPowerSpectrum as FeatomicEquivariant
    except ImportError:
        print("featomic is not installed: ours only")
    else:
        featomic_eq = FeatomicEquivariant(_featomic_expansion(LAMBDA_HYPERS), neighbor_types=species)
        nu3_expansion = _featomic_expansion(NU3_HYPERS)
        correlations = DensityCorrelations(n_correlations=2, max_angular=NU3_HYPERS["l_max"])
        invariant = metatensor.Labels(["o3_lambda", "o3_sigma"], np.array([[0, 1]]))

        def featomic_nu3():
            density = nu3_expansion.compute(frames).keys_to_properties(metatensor.Labels(["neighbor_type"], np.array(species)[:, None]))
            return correlations.compute(density, angular_cutoff=NU3_HYPERS["l_max"], selected_keys=invariant)

        runners["λ-SOAP, featomic"] = lambda: featomic_eq.compute(frames, neighbors_to_properties=True)
        runners["ν=3, featomic"] = featomic_nu3
    best = _best_of(runners, args.repeats)
    print(f"{args.cells} Cu/Au fcc cells, {n_atoms} atoms, per atom; λ-SOAP {LAMBDA_HYPERS}, ν=3 {NU3_HYPERS}; "
          f"cores: {os.cpu_count()}, best of {args.repeats}")
    print(f"{'implementation':<26}{'seconds':>10}{'atoms/s':>12}")
    for name, seconds in best.items():
        print(f"{name:<26}{seconds:10.3f}{n_atoms / seconds:12.0f}")
    return 0
