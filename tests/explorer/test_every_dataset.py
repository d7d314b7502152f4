"""The app's whole journey, without a browser, on every real dataset we ship.

Each file of tests/data (sources in its README) and the bundled sample goes through the same
functions the callbacks call: upload, SOAP (per structure and per atom), a PCA and a PCovR map
drawn with a colour, a click on a point, clustering, and the export of a selection in every
format. Small SOAP hyperparameters keep it fast; the point is that no file breaks a step.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from compute.datasets import read_dataset
from explorer.panels import clusters, dataset, descriptors, export, map as map_panel, viewer
from explorer.rows import first_numeric_property, map_rows
from explorer.store import Store

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for p in (ROOT / "tests" / "data").iterdir() if p.is_file() and p.suffix in (".xyz", ".json")) + [
    ROOT / "sample_datasets" / "small_molecules-1000.xyz"
]
HYPERS = {"cutoff": 3.5, "n_max": 3, "l_max": 2, "density_width": 0.4}


def upload(store: Store, path: Path) -> dict:
    contents = "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()
    state, message = dataset.accept_upload(store, contents, path.name, max_bytes=50_000_000)
    assert path.name in message
    return state


def _lines_of_frames(path: Path, n_frames: int) -> int:
    """Number of lines holding the first ``n_frames`` frames of an XYZ file."""
    lines = path.read_text().splitlines()
    position = 0
    for _ in range(n_frames):
        position += int(lines[position]) + 2
    return position


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("per", ["structure", "atom"])
def test_every_step_works_on_every_file(tmp_path, path, per):
    store = Store(tmp_path / "store")
    if per == "atom" and path.name.startswith("small_molecules"):
        # the sample's 17,743 environments: 60 of its molecules exercise the same code
        subset = tmp_path / "small_molecules-60.xyz"
        subset.write_text("".join(path.read_text().splitlines(keepends=True)[: _lines_of_frames(path, 60)]))
        path = subset
    dataset_state = upload(store, path)
    data = store.dataset(dataset_state["id"])
    rows = map_rows(data, per)

    features_state = descriptors.compute_features(store, dataset_state["id"], HYPERS, per, backend="numba")
    assert features_state["n_rows"] == len(rows)

    pca = map_panel.compute_map(store, features_state, "pca", None, 0.5)
    target = first_numeric_property(data, per)
    figure = map_panel.draw_map(store, pca, color_by=target)
    drawn = np.concatenate([np.asarray(trace.customdata)[:, 0] for trace in figure.data if trace.customdata is not None]).astype(int)
    assert sorted(drawn.tolist()) == list(range(len(rows)))

    if target is not None:
        finite = np.isfinite(map_panel.target_values(store, dataset_state["id"], per, target)).sum()
        if finite >= 4:
            pcovr = map_panel.compute_map(store, features_state, "pcovr", target, 0.5)
            moved = map_panel.move_mixing(store, pcovr, features_state, 0.2)
            assert store.load_arrays(moved["coords"])["coordinates"].shape[0] == len(rows)

    shown = viewer.structure_view(store, dataset_state["id"], per, len(rows) - 1, HYPERS["cutoff"], None)
    assert shown.structure == rows.structure[-1] and shown.payload is not None

    n_clusters = min(3, len(rows))
    cluster_state = clusters.run_clustering(store, pca, features_state, "kmeans", {"n_clusters": n_clusters}, space="map")
    assert cluster_state["n_clusters"] == n_clusters

    selection = {"rows": list(range(0, len(rows), max(1, len(rows) // 4))), "source": "test"}
    for fmt in ("extxyz", "csv", "npz", "chemiscope"):
        content, filename = export.export_selection(store, dataset_state, features_state, pca, selection, fmt, color_by=target)
        assert content and "/" not in filename
    exported = read_dataset(export.export_selection(store, dataset_state, features_state, pca, selection, "extxyz")[0], name="x.xyz")
    expected_structures = len(set(rows.structure[selection["rows"]].tolist()))
    assert exported.n_structures == expected_structures
