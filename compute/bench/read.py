"""``python -m compute.bench read``: reading a large extended XYZ file, ours next to ASE and extxyz.

Builds a file of ``--n`` molecules (default 20,000) in a temporary folder from
``small_molecules-1000.xyz`` (librascal test inputs, see /work/shared/data/README.md, or the
copy in sample_datasets/), rattled copies with their properties, and prints, side by side:

1. ASE's reader, ``ase.io.read(path, ":", format="extxyz")``;
2. the libAtoms extxyz C parser alone, ``extxyz.read_dicts(path)`` (dicts, no ``ase.Atoms``);
3. our :func:`compute.datasets.read_dataset` (C parser, then the property tables and checks);
4. our ``read_dataset`` through ASE's reader (the fallback path), for reference.

Each case is timed ``--repeat`` times (best kept), wall clock and CPU time of the process.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

SOURCES = (Path("/work/shared/data/small_molecules-1000.xyz"),
           Path(__file__).resolve().parents[2] / "sample_datasets" / "small_molecules-1000.xyz")


def build_file(path: Path, n: int, seed: int = 0) -> tuple[int, int]:
    """``n`` rattled copies of the source molecules written to ``path``; (frames, atoms)."""
    import ase.io

    from . import rattled_copies

    source = next((p for p in SOURCES if p.is_file()), None)
    if source is None:
        raise SystemExit(f"no source file: looked for {', '.join(map(str, SOURCES))}")
    frames = rattled_copies(ase.io.read(source, ":"), n, scale=0.02, seed=seed)
    ase.io.write(path, frames, format="extxyz")
    return len(frames), sum(len(a) for a in frames)


def _best(function, repeat: int) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds (the CPU time of this process, which other work on a
    shared machine disturbs less than the wall clock)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        function()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute.bench read", description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="molecules in the file (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timings per case, best kept (default 3)")
    args = parser.parse_args(argv)

    import ase.io

    import compute.formats.extxyz as extxyz_format
    from compute.datasets import read_dataset

    with tempfile.TemporaryDirectory(prefix="bench-read-") as tmp:
        path = Path(tmp) / "molecules.xyz"
        n_frames, n_atoms = build_file(path, args.n)
        size = path.stat().st_size / 1024**2
        print(f"{n_frames} molecules, {n_atoms} atoms, {size:.1f} MB; best of {args.repeat}")
        cases = {"ASE ase.io.read": lambda: ase.io.read(path, ":", format="extxyz")}
        try:
            import extxyz

            cases["extxyz.read_dicts (C)"] = lambda: extxyz.read_dicts(str(path))
        except ImportError:
            print("extxyz is not installed: its C parser is skipped (and read_dataset uses ASE)")
        cases["read_dataset"] = lambda: read_dataset(path)

        def through_ase():
            saved = extxyz_format._native_frames
            extxyz_format._native_frames = lambda data, comments: None  # the fallback path
            try:
                read_dataset(path)
            finally:
                extxyz_format._native_frames = saved

        cases["read_dataset (ASE fallback)"] = through_ase
        times = {name: _best(case, args.repeat) for name, case in cases.items()}
        wall_ref, cpu_ref = times["ASE ase.io.read"]
        print(f"{'case':<30} {'wall s':>8} {'frames/s':>10} {'vs ASE':>8} {'CPU s':>8} {'vs ASE':>8}")
        for name, (wall, cpu) in times.items():
            print(f"{name:<30} {wall:8.3f} {n_frames / wall:10.0f} {wall_ref / wall:7.2f}x {cpu:8.3f} {cpu_ref / cpu:7.2f}x")
    return 0
