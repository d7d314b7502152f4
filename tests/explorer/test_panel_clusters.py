"""The clusters panel's logic on a real store: 120 sample molecules, SOAP features, a PCA map."""

from __future__ import annotations


import numpy as np
import pytest

from explorer.panels import clusters
from explorer.panels.map import compute_map, draw_map
from explorer.rows import CLUSTER

N = 120


@pytest.fixture(scope="module")
def mapped(featurized_molecules):
    """(store, features_state, map_state): the shared 120 molecules with a PCA map."""
    store, _, features_state = featurized_molecules
    return store, features_state, compute_map(store, features_state, "pca", None, 0.5)


@pytest.mark.parametrize("space", ["map", "features"])
@pytest.mark.parametrize("method", ["kmeans", "gmm", "agglomerative"])
def test_fixed_number_of_clusters(mapped, space, method):
    store, features_state, map_state = mapped
    params = clusters.read_params(method, n_clusters=4)
    assert params == {"n_clusters": 4}
    result = clusters.run_clustering(store, map_state, features_state, method, params, space)
    assert result["n_clusters"] == 4 and result["method"] == method and result["space"] == space
    assert result["features"] == features_state["key"]
    labels = store.load_arrays(result["key"])["labels"]
    assert labels.shape == (N,) and set(labels.tolist()) == {0, 1, 2, 3}
    if method == "gmm":
        probabilities = store.load_arrays(result["key"])["probabilities"]
        assert probabilities.shape == (N,) and np.all((probabilities > 0) & (probabilities <= 1))


def test_map_and_features_give_different_keys(mapped):
    store, features_state, map_state = mapped
    params = {"n_clusters": 3}
    on_map = clusters.run_clustering(store, map_state, features_state, "kmeans", params, "map")
    on_features = clusters.run_clustering(store, map_state, features_state, "kmeans", params, "features")
    assert on_map["key"] != on_features["key"]


@pytest.mark.parametrize("method,params", [("dbscan", {"min_samples": 5}), ("dbscan", {"eps": 0.05, "min_samples": 3}),
                                           ("hdbscan", {"min_cluster_size": 5})])
def test_density_methods(mapped, method, params):
    store, features_state, map_state = mapped
    result = clusters.run_clustering(store, map_state, features_state, method, clusters.read_params(method, **params), "map")
    labels = store.load_arrays(result["key"])["labels"]
    assert labels.shape == (N,)
    assert result["n_clusters"] == len(set(labels[labels >= 0].tolist()))
    if method == "dbscan" and "eps" not in params:
        assert result["params"]["eps"] > 0  # chosen from the data
    sizes = clusters.cluster_sizes(labels)
    assert sum(size for _, size in sizes) == N
    if (labels < 0).any():
        assert sizes[-1][0] == -1  # noise listed last


def test_state_colours_the_map_one_trace_per_cluster(mapped):
    store, features_state, map_state = mapped
    cluster_state = clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": 5}, "map")
    fig = draw_map(store, map_state, color_by=CLUSTER, cluster_state=cluster_state)
    traces = [t for t in fig.data if t.showlegend is not False and getattr(t, "name", None)]
    assert len(traces) == 5
    total = sum(len(t.x) for t in traces)
    assert total == N


def test_cluster_as_selection(mapped):
    store, features_state, map_state = mapped
    cluster_state = clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": 4}, "features")
    labels = store.load_arrays(cluster_state["key"])["labels"]
    for label in range(4):
        selection = clusters.cluster_selection(store, cluster_state, label)
        assert selection["source"] == "cluster"
        assert selection["rows"] == np.flatnonzero(labels == label).tolist()
    with pytest.raises(ValueError, match="no cluster 9"):
        clusters.cluster_selection(store, cluster_state, 9)
    with pytest.raises(ValueError, match="choose a cluster"):
        clusters.cluster_selection(store, cluster_state, None)
    # a click on a bar of the sizes figure carries the label as customdata[0]
    fig, listing, options = clusters.summary(store, cluster_state, features_state)
    assert [o["value"] for o in options] == [0, 1, 2, 3]
    assert [int(y) for y in fig.data[0].y] == np.bincount(labels).tolist()
    click = {"points": [{"x": "2", "y": 10, "customdata": [2]}]}
    assert clusters.clicked_label(click) == 2
    assert clusters.clicked_label({"points": [{"x": "noise"}]}) == -1
    assert clusters.clicked_label(None) is None


def test_summary_of_stale_state_is_empty(mapped):
    store, features_state, map_state = mapped
    cluster_state = clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": 2}, "map")
    other = {**features_state, "key": "0" * 64}
    _, listing, options = clusters.summary(store, cluster_state, other)
    assert listing == [] and options == []


@pytest.mark.parametrize(
    "method,kwargs,message",
    [
        ("kmeans", {"n_clusters": None}, "n_clusters is empty"),
        ("kmeans", {"n_clusters": 0}, "n_clusters must be at least 1"),
        ("kmeans", {"n_clusters": 2.5}, "n_clusters must be a whole number"),
        ("dbscan", {"eps": -1, "min_samples": 5}, "eps must be a positive"),
        ("hdbscan", {"min_cluster_size": 1}, "min_cluster_size must be at least 2"),
        ("spectral", {}, "unknown clustering method"),
    ],
)
def test_bad_params_name_the_parameter(method, kwargs, message):
    with pytest.raises(ValueError, match=message):
        clusters.read_params(method, **kwargs)


def test_impossible_params_raise_and_store_nothing(mapped):
    store, features_state, map_state = mapped
    before = set((store.root / "arrays").iterdir())
    with pytest.raises(ValueError, match="n_clusters"):
        clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": N + 1}, "map")
    with pytest.raises(ValueError, match="min_cluster_size"):
        clusters.run_clustering(store, map_state, features_state, "hdbscan", {"min_cluster_size": N + 5}, "map")
    with pytest.raises(ValueError, match="no map yet"):
        clusters.run_clustering(store, None, features_state, "kmeans", {"n_clusters": 2}, "map")
    with pytest.raises(ValueError, match="unknown parameter"):  # from compute.clustering
        clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": 2, "bogus": 1}, "map")
    assert set((store.root / "arrays").iterdir()) == before


def test_results_are_cached(mapped, monkeypatch):
    store, features_state, map_state = mapped
    first = clusters.run_clustering(store, map_state, features_state, "agglomerative", {"n_clusters": 6}, "features")
    assert store.has_arrays(first["key"])

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached clustering")

    monkeypatch.setattr(clusters.clustering, "cluster", fail)
    again = clusters.run_clustering(store, map_state, features_state, "agglomerative", {"n_clusters": 6}, "features")
    assert again == first


def test_work_stays_bounded(mapped):
    """Gaussian mixtures on thousands of SOAP features use diagonal covariances (a full one per
    cluster would be gigabytes), and a run asks for at most MAX_CLUSTERS clusters."""
    store, features_state, map_state = mapped
    state_ = clusters.run_clustering(store, map_state, features_state, "gmm", {"n_clusters": 3}, "features")
    assert state_["params"]["covariance_type"] == "diag" and state_["n_clusters"] == 3
    on_map = clusters.run_clustering(store, map_state, features_state, "gmm", {"n_clusters": 3}, "map")
    assert "covariance_type" not in on_map["params"]
    with pytest.raises(ValueError, match="n_clusters"):
        clusters.run_clustering(store, map_state, features_state, "kmeans", {"n_clusters": clusters.MAX_CLUSTERS + 1}, "map")
