"""compute.clustering against scikit-learn, on a real map: the PCA of CSD-1000R environments."""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import cluster as skc
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture

from compute._dispatch import cupy_available
from compute.clustering import METHODS, ClusterResult, cluster, kmeans

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def map_coords():
    """2D map coordinates (PCA of SOAP) of the 1362 atomic environments of CSD-1000R."""
    props = json.loads((DATA / "CSD-1000R.chemiscope.json").read_text())["properties"]
    return np.c_[props["PCA_1"]["values"], props["PCA_2"]["values"]].astype(float)


@pytest.fixture(scope="module")
def features(map_coords):
    """A higher-dimensional real feature set: 8 polynomial features of the map, standardised."""
    x, y = map_coords.T
    F = np.c_[x, y, x * y, x**2, y**2, x**3, y**3, np.sin(3 * x)]
    return (F - F.mean(0)) / F.std(0)


def _check_result(result, n):
    assert isinstance(result, ClusterResult)
    labels = np.asarray(result.labels)
    assert labels.shape == (n,) and labels.dtype.kind == "i"
    assert set(np.unique(labels)) <= set(range(-1, result.n_clusters))
    assert result.sizes.tolist() == [int(np.sum(labels == k)) for k in range(result.n_clusters)]
    assert np.all(np.diff(result.sizes) <= 0)  # numbered by decreasing size


@pytest.mark.parametrize(
    "method, params, reference",
    [
        ("kmeans", {"n_clusters": 5}, lambda: skc.KMeans(n_clusters=5, random_state=0)),
        ("dbscan", {"eps": 0.05, "min_samples": 5}, lambda: skc.DBSCAN(eps=0.05, min_samples=5)),
        ("hdbscan", {"min_cluster_size": 10}, lambda: skc.HDBSCAN(min_cluster_size=10, copy=True)),
        ("gmm", {"n_clusters": 4}, lambda: GaussianMixture(n_components=4, random_state=0)),
        ("agglomerative", {"n_clusters": 4, "linkage": "ward"}, lambda: skc.AgglomerativeClustering(n_clusters=4)),
    ],
)
def test_equals_sklearn_on_a_real_map(map_coords, method, params, reference):
    result = cluster(map_coords, method, random_state=0, **params)
    _check_result(result, len(map_coords))
    ref = reference().fit(map_coords)
    ref_labels = ref.predict(map_coords) if method == "gmm" else ref.labels_
    # the same partition (only the numbering differs), noise in the same places
    assert adjusted_rand_score(ref_labels, result.labels) == pytest.approx(1.0)
    np.testing.assert_array_equal(np.asarray(result.labels) == -1, ref_labels < 0)
    assert result.n_clusters == len(set(ref_labels[ref_labels >= 0]))
    if method == "hdbscan":
        np.testing.assert_allclose(result.probabilities, ref.probabilities_)
        assert result.n_clusters >= 3 and np.any(result.labels == -1)
    elif method == "gmm":
        proba = ref.predict_proba(map_coords)
        np.testing.assert_allclose(result.probabilities, proba.max(axis=1), rtol=1e-10)
        assert result.centers.shape == (4, 2)
    else:
        assert result.probabilities is None
    if method == "kmeans":
        assert result.inertia == pytest.approx(ref.inertia_)
        # centres follow the renumbering
        d = ((map_coords[:, None, :] - result.centers[None]) ** 2).sum(-1)
        np.testing.assert_array_equal(d.argmin(1), result.labels)


@pytest.mark.parametrize("method", METHODS)
def test_deterministic_with_random_state(features, method):
    params = {"dbscan": {"eps": 0.8}, "hdbscan": {}}.get(method, {"n_clusters": 6})
    a = cluster(features, method, random_state=3, **params)
    b = cluster(features, method, random_state=3, **params)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.sizes.tolist() == b.sizes.tolist()


def test_kmeans_seed_changes_the_run(features):
    runs = {tuple(cluster(features, "kmeans", random_state=s, n_clusters=12).labels[:200]) for s in range(4)}
    assert len(runs) > 1


@pytest.mark.parametrize("data", ["map", "features"])
@pytest.mark.parametrize("n_clusters", [3, 6, 12])
def test_xp_kmeans_numpy_path_matches_sklearn_quality(map_coords, features, data, n_clusters):
    X = map_coords if data == "map" else features
    ours, ref = [], []
    for seed in range(4):
        ours.append(cluster(X, "kmeans", random_state=seed, backend="numpy", n_clusters=n_clusters, n_init=3).inertia)
        ref.append(skc.KMeans(n_clusters=n_clusters, random_state=seed, n_init=3).fit(X).inertia_)
    assert np.mean(ours) <= 1.03 * np.mean(ref), (ours, ref)
    assert min(ours) <= 1.03 * min(ref)


def test_xp_kmeans_result_is_consistent(features):
    result = cluster(features, "kmeans", backend="numpy", n_clusters=7, random_state=0)
    _check_result(result, len(features))
    assert result.n_clusters == 7 and result.probabilities is None
    d = ((features[:, None, :] - result.centers[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(d.argmin(1), result.labels)  # converged: each point at its centre
    assert result.inertia == pytest.approx(d.min(1).sum())
    for k in range(7):  # centres are the means of their clusters
        np.testing.assert_allclose(result.centers[k], features[result.labels == k].mean(0), atol=1e-10)


def test_kmeans_more_clusters_than_distinct_points():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 5, axis=0)
    labels, centers, inertia = kmeans(X, n_clusters=3)
    assert inertia == pytest.approx(0.0) and labels.shape == (10,)


def test_errors_name_the_parameter(map_coords):
    with pytest.raises(ValueError, match="unknown clustering method 'spectral'"):
        cluster(map_coords, "spectral")
    with pytest.raises(ValueError, match="'epsilon'.*method 'dbscan'.*eps"):
        cluster(map_coords, "dbscan", epsilon=0.1)
    with pytest.raises(ValueError, match="n_clusters"):
        cluster(map_coords, "kmeans", n_clusters=0)
    with pytest.raises(ValueError, match="n_clusters"):
        cluster(map_coords, "kmeans", backend="numpy", n_clusters=0)
    with pytest.raises(ValueError, match="eps"):
        cluster(map_coords, "dbscan", eps=-1.0)
    with pytest.raises(ValueError, match="min_cluster_size"):
        cluster(map_coords, "hdbscan", min_cluster_size=1)
    with pytest.raises(ValueError, match="n_clusters or n_components"):
        cluster(map_coords, "gmm", n_clusters=2, n_components=2)
    with pytest.raises(ValueError, match="unknown backend 'gpu'"):
        cluster(map_coords, "kmeans", backend="gpu")
    with pytest.raises(ValueError, match="NaN"):
        cluster(np.array([[0.0, np.nan], [1.0, 1.0]]), "kmeans", n_clusters=1)
    with pytest.raises(ValueError, match="2D"):
        cluster(np.zeros(5), "kmeans")
    if not cupy_available():
        with pytest.raises(ValueError, match="backend='cupy'"):
            cluster(map_coords, "kmeans", backend="cupy")


@pytest.mark.gpu
@pytest.mark.skipif(not cupy_available(), reason="needs CuPy and a CUDA device")
def test_kmeans_on_cupy(map_coords, features):
    import cupy as cp

    for X in (map_coords, features):
        cpu = cluster(X, "kmeans", backend="numpy", n_clusters=6, random_state=0)
        gpu = cluster(cp.asarray(X), "kmeans", n_clusters=6, random_state=0)
        assert isinstance(gpu.labels, cp.ndarray)
        # same seeding (host random numbers), same iteration: the same partition
        assert adjusted_rand_score(cpu.labels, cp.asnumpy(gpu.labels)) == pytest.approx(1.0)
        assert gpu.inertia == pytest.approx(cpu.inertia, rel=1e-8)
        host = cluster(X, "kmeans", backend="cupy", n_clusters=6, random_state=0)
        assert isinstance(host.labels, np.ndarray)
        np.testing.assert_array_equal(host.labels, cpu.labels)
    # other methods accept cupy input and give labels back on the device
    res = cluster(cp.asarray(map_coords), "hdbscan", min_cluster_size=20)
    assert isinstance(res.labels, cp.ndarray)


def test_backend_names_mean_what_dispatch_says(map_coords):
    """"numba" (and "auto" without a GPU) is scikit-learn's compiled k-means, "numpy" the xp
    k-means; other spellings are refused by compute._dispatch.resolve."""
    ref = skc.KMeans(n_clusters=4, random_state=0).fit(map_coords)
    for backend in ("numba",) + (() if cupy_available() else ("auto",)):
        result = cluster(map_coords, "kmeans", random_state=0, backend=backend, n_clusters=4)
        assert result.inertia == pytest.approx(ref.inertia_)
    xp_result = cluster(map_coords, "kmeans", random_state=0, backend="numpy", n_clusters=4)
    assert xp_result.inertia == pytest.approx(kmeans(map_coords, n_clusters=4, random_state=0)[2])
    with pytest.raises(ValueError, match="unknown backend 'sklearn'"):
        cluster(map_coords, "kmeans", backend="sklearn")
    with pytest.raises(ValueError, match="X contains NaN or infinite values: drop those samples"):
        cluster(np.array([[0.0, np.inf], [1.0, 1.0]]), "dbscan")
