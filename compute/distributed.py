"""SOAP features on a Dask cluster, for files one machine cannot featurize in reasonable time.

The structures are cut into chunks of about ``chunk_atoms`` atoms; each chunk is sent to a worker
with the calculator, computed there with its backend (each worker's own cores or GPU), and the
rows come back in the order of the structures. Needs the ``distributed`` extra.

Examples
--------
>>> from dask.distributed import Client, LocalCluster
>>> from ase.build import molecule
>>> from compute.descriptors import SoapPowerSpectrum
>>> frames = [molecule(name) for name in ("H2O", "CH4", "NH3", "C2H6")] * 5
>>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster, \\
...         Client(cluster) as client:
...     X = featurize_distributed(client, SoapPowerSpectrum(n_max=3, l_max=2), frames, chunk_atoms=20, backend="numpy")
>>> X.shape
(20, 270)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _chunks(frames: Sequence, chunk_atoms: int) -> list[slice]:
    """Consecutive slices of ``frames`` holding about ``chunk_atoms`` atoms each."""
    slices, start, atoms = [], 0, 0
    for k, structure in enumerate(frames):
        if atoms and atoms + len(structure) > chunk_atoms:
            slices.append(slice(start, k))
            start, atoms = k, 0
        atoms += len(structure)
    if start < len(frames):
        slices.append(slice(start, len(frames)))
    return slices


def _compute_chunk(calculator, frames, per, backend, species, dtype):
    return calculator.compute(frames, per=per, backend=backend, species=species, dtype=dtype)


def featurize_distributed(
    client,
    calculator,
    frames: Sequence,
    *,
    per: str = "structure",
    backend: str = "auto",
    chunk_atoms: int = 50_000,
    dtype=np.float64,
    progress=None,
) -> np.ndarray:
    """``calculator.compute(frames, per=per)`` computed on the workers of a Dask ``client``.

    The species are fixed from all ``frames`` first, so every chunk has the same columns, and the
    result equals the single-machine computation row for row. ``progress(done, total)`` is called
    as chunks of structures finish.
    """
    from dask.distributed import as_completed

    frames = list(frames)
    species = calculator.species_for(frames).tolist()
    slices = _chunks(frames, chunk_atoms)
    futures = {
        client.submit(_compute_chunk, calculator, frames[s], per, backend, species, dtype, pure=False): s
        for s in slices
    }
    parts: dict[int, np.ndarray] = {}
    done = 0
    for future in as_completed(futures):
        part = futures[future]
        parts[part.start] = future.result()
        done += part.stop - part.start
        if progress is not None:
            progress(done, len(frames))
    return np.concatenate([parts[s.start] for s in slices], axis=0)
