"""SOAP on a real (local) Dask cluster equals the single-machine computation, row for row."""

from __future__ import annotations

from pathlib import Path

import ase.io
import numpy as np
import pytest

from compute.descriptors import SoapPowerSpectrum
from compute.featurize import main as featurize_main

distributed = pytest.importorskip("dask.distributed")

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_datasets" / "small_molecules-1000.xyz"
HYPERS = dict(cutoff=4.0, n_max=4, l_max=3, density_width=0.3)


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, as a real cluster would have (tasks and results are pickled)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.mark.parametrize("per", ["structure", "atom"])
def test_distributed_equals_local(cluster, per):
    from compute.distributed import featurize_distributed

    frames = ase.io.read(SAMPLE, ":80") + ase.io.read(ROOT / "tests" / "data" / "explore_c-gap-20u.xyz", ":")
    soap = SoapPowerSpectrum(**HYPERS)
    seen = []
    with distributed.Client(cluster) as client:
        remote = featurize_distributed(client, soap, frames, per=per, backend="numba", chunk_atoms=300,
                                       progress=lambda done, total: seen.append(done))
    local = soap.compute(frames, per=per, backend="numba")
    assert remote.shape == local.shape
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-12 * np.abs(local).max())
    assert len(seen) > 3 and max(seen) == len(frames)


def test_featurize_command_on_a_scheduler(cluster, tmp_path):
    output = tmp_path / "features.npz"
    assert featurize_main([str(ROOT / "tests" / "data" / "explore_qm9.xyz"), "-o", str(output), "--n-max", "4", "--l-max", "3",
                           "--cutoff", "4.0", "--backend", "numba", "--no-progress", "--scheduler", cluster.scheduler_address]) == 0
    with np.load(output, allow_pickle=False) as npz:
        expected = SoapPowerSpectrum(**HYPERS).compute(ase.io.read(ROOT / "tests" / "data" / "explore_qm9.xyz", ":"),
                                                       per="structure", backend="numba")
        np.testing.assert_allclose(npz["features"], expected, rtol=1e-12)


def test_the_app_fans_a_large_upload_out_to_the_cluster(cluster, tmp_path, monkeypatch):
    """EXPLORER_DASK_SCHEDULER: the app's SOAP job of an upload at or above EXPLORER_DASK_MIN_ATOMS
    runs on the cluster, with the same features as on one machine."""
    from explorer.panels import descriptors
    from explorer.store import Store

    here_store = Store(tmp_path / "here")
    here = descriptors.compute_features(here_store, here_store.add_dataset_file(SAMPLE), HYPERS, "structure", backend="numba")
    monkeypatch.setenv("EXPLORER_DASK_SCHEDULER", cluster.scheduler_address)
    monkeypatch.setenv("EXPLORER_DASK_MIN_ATOMS", "10000")  # the sample has 17,743 atoms
    def chunks_run() -> int:  # tasks the cluster's scheduler has seen finish, all time
        return sum(prefix.state_counts.get("memory", 0) for name, prefix in cluster.scheduler.task_prefixes.items()
                   if "compute_chunk" in name)

    before = chunks_run()
    there_store = Store(tmp_path / "there")
    there = descriptors.compute_features(there_store, there_store.add_dataset_file(SAMPLE), HYPERS, "structure", backend="numba")
    assert chunks_run() > before, "no chunk ran on the cluster"
    np.testing.assert_allclose(there_store.load_matrix(there["key"]), here_store.load_matrix(here["key"]), rtol=1e-12, atol=1e-12)
