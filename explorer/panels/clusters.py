"""Clusters: cluster the map coordinates or the features, colour the map by cluster, list the
cluster sizes and make a cluster the selection.

One background job (``on_run_clustering``) calls :func:`run_clustering`, which runs
``compute.clustering.cluster`` once and caches the labels in the server-side store under a key
of (what was clustered, method, parameters); the browser only receives the cluster state
``{"key", "method", "params", "n_clusters", "features", "map", "space"}`` in ``cluster-state``.
The map panel colours by that state when ``color-by`` is ``map:cluster`` (``map.color_values``),
and switches ``color-by`` to it when a run ends (the map panel owns its colour).

Ids: ``clusters-method``, ``cluster-n-clusters``, ``cluster-eps``, ``cluster-min-samples``,
``cluster-min-cluster-size``, ``clusters-space`` (``"map"`` or ``"features"``), ``clusters-run``,
``clusters-cancel``, ``clusters-progress``, ``clusters-sizes-graph`` (click a bar to select that
cluster), ``clusters-sizes-list``, ``clusters-choice`` and ``clusters-use-selection``.
"""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, dcc, html, no_update

from compute import clustering, defaults
from compute.datasets import DatasetError

from .. import figures, messages, state
from ..jobs import failure_handler, run_and_cancel
from ..store import Store, UnknownIdError, make_key
from .descriptors import load_features

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

METHODS = {
    "kmeans": "k-means",
    "dbscan": "DBSCAN",
    "hdbscan": "HDBSCAN",
    "gmm": "Gaussian mixture",
    "agglomerative": "agglomerative (Ward)",
}
#: the parameters each method takes from the panel
METHOD_PARAMS = {
    "kmeans": ("n_clusters",),
    "gmm": ("n_clusters",),
    "agglomerative": ("n_clusters",),
    "dbscan": ("eps", "min_samples"),
    "hdbscan": ("min_cluster_size",),
}
DEFAULTS = defaults.CLUSTER_DEFAULTS
#: (name, label, min, step) of each parameter input
FIELDS = [
    ("n_clusters", "number of clusters", 1, 1),
    ("eps", "eps (empty: automatic)", 0, "any"),
    ("min_samples", "min samples", 1, 1),
    ("min_cluster_size", "min cluster size", 2, 1),
]
AGGLOMERATIVE_MAX = defaults.AGGLOMERATIVE_MAX
MAX_CLUSTERS = defaults.MAX_CLUSTERS
GMM_FULL_COVARIANCE_MAX_DIM = defaults.GMM_FULL_COVARIANCE_MAX_DIM
SPACES = {"map": "on the map coordinates", "features": "on the features"}


def _id(name: str) -> str:
    return "clusters-" + name.replace("_", "-")


def layout() -> html.Div:
    fields = [
        html.Label(
            [label, dcc.Input(id=_id(name), type="number", min=lo, step=step, value=DEFAULTS[name], debounce=True,
                              className="number-input")],
            id=f"{_id(name)}-field", className="field",
            style=None if name in METHOD_PARAMS["kmeans"] else {"display": "none"},
        )
        for name, label, lo, step in FIELDS
    ]
    controls = html.Div(
        [
            html.Label(["method", dcc.Dropdown(id="clusters-method", options=[{"label": v, "value": k} for k, v in METHODS.items()],
                                               value="kmeans", clearable=False)], className="field"),
            html.Div(fields, className="field-grid"),
            dcc.RadioItems(id="clusters-space", options=[{"label": v, "value": k} for k, v in SPACES.items()],
                           value="map", inline=True),
            html.Div(
                [
                    html.Button("Run clustering", id="clusters-run", n_clicks=0, className="button primary"),
                    html.Button("Cancel", id="clusters-cancel", n_clicks=0, className="button", disabled=True),
                ],
                className="button-row",
            ),
            html.Progress(id="clusters-progress", value="0", max="1", className="progress"),
            html.Div(
                [
                    html.Label(["cluster", dcc.Dropdown(id="clusters-choice", options=[], value=None, placeholder="(run first)")],
                               className="field"),
                    html.Button("Use cluster as selection", id="clusters-use-selection", n_clicks=0, className="button"),
                ],
                className="button-row",
            ),
            html.Div(id="clusters-sizes-list", className="clusters-sizes-list"),
        ],
        className="panel cluster-controls",
    )
    graph = dcc.Graph(id="clusters-sizes-graph", figure=figures.empty_figure("No clusters yet: choose a method and run"),
                      config=figures.GRAPH_CONFIG, style={"height": "320px"})
    return html.Div([controls, html.Div(graph, className="cluster-graph side-graph")], className="tab-panel clusters-panel")


# -- logic -----------------------------------------------------------------------------------------


def read_params(method: str, n_clusters=None, eps=None, min_samples=None, min_cluster_size=None) -> dict:
    """The parameters ``method`` takes, from the panel's inputs; ValueError names a bad one.

    ``eps`` left empty means automatic (chosen from the data in :func:`run_clustering`).
    """
    if method not in METHOD_PARAMS:
        raise ValueError(f"unknown clustering method {method!r}: choose one of {', '.join(METHODS.values())}")
    given = {"n_clusters": n_clusters, "eps": eps, "min_samples": min_samples, "min_cluster_size": min_cluster_size}
    params = {}
    for name in METHOD_PARAMS[method]:
        value = given[name]
        if value is None or value == "":
            if name == "eps":
                continue
            raise ValueError(f"{name} is empty or out of its range: enter a number")
        if name == "eps":
            value = float(value)
            if not np.isfinite(value) or value <= 0:
                raise ValueError(f"eps must be a positive distance, got {value!r}")
        else:
            if float(value) != int(float(value)):
                raise ValueError(f"{name} must be a whole number, got {value!r}")
            value = int(float(value))
            lowest = 2 if name == "min_cluster_size" else 1
            if value < lowest:
                raise ValueError(f"{name} must be at least {lowest}, got {value}")
        params[name] = value
    return params


def clustering_input(store: Store, map_state: dict | None, features_state: dict | None, space: str):
    """(X, key of X) for ``space`` "map" (the map coordinates) or "features"."""
    if space == "map":
        if not map_state:
            raise ValueError("there is no map yet: compute one, or cluster on the features")
        return np.asarray(store.load_arrays(map_state["coords"])["coordinates"], dtype=np.float64), map_state["coords"]
    if space == "features":
        if not features_state:
            raise ValueError("there are no features yet: compute the descriptors first")
        X, _ = load_features(store, features_state)
        return np.array(X, dtype=np.float64), features_state["key"]
    raise ValueError(f"unknown space {space!r}: cluster on 'map' or 'features'")


def run_clustering(store: Store, map_state: dict | None, features_state: dict | None, method: str, params: dict,
                   space: str = "map", progress=None) -> dict:
    """Cluster the map coordinates or the features; labels cached in ``store``; returns the state.

    The state, for ``cluster-state``: ``{"key", "method", "params", "n_clusters", "features",
    "map", "space"}``; the arrays under ``key`` are ``labels`` (``-1`` is noise), ``sizes`` and,
    for HDBSCAN and Gaussian mixtures, ``probabilities``. Bad parameters raise ValueError naming
    the parameter (from ``compute.clustering``/scikit-learn).
    """
    if features_state is None and map_state is None:
        raise ValueError("there is nothing to cluster yet: compute the descriptors first")
    features_key = features_state["key"] if features_state else map_state["features"]
    if space == "map" and map_state and features_state and map_state.get("features") != features_state["key"]:
        raise ValueError("the map is still being computed for the new features: wait for it, then run again")
    X, source_key = clustering_input(store, map_state, features_state, space)
    params = dict(params)
    if "n_clusters" in params and params["n_clusters"] > min(len(X), MAX_CLUSTERS):
        limit = "the number of points" if params["n_clusters"] > len(X) else "the most this panel draws"
        raise ValueError(f"n_clusters ({params['n_clusters']}) is larger than {limit} ({min(len(X), MAX_CLUSTERS)})")
    if method == "gmm" and X.shape[1] > GMM_FULL_COVARIANCE_MAX_DIM:
        # a full covariance per cluster on thousands of SOAP features is gigabytes and d³ work
        params.setdefault("covariance_type", "diag")
    if method == "agglomerative" and len(X) > AGGLOMERATIVE_MAX:
        raise ValueError(f"agglomerative clustering of {len(X):,} points needs too much memory (at most "
                         f"{AGGLOMERATIVE_MAX:,}): use k-means or a Gaussian mixture")
    if method == "dbscan" and "eps" not in params:
        params["eps"] = round(clustering.dbscan_eps(X, params.get("min_samples", 5)), 6)
    if method in ("dbscan", "hdbscan"):
        key_of = params.get("min_samples", params.get("min_cluster_size", 2))
        if key_of > len(X):
            name = "min_samples" if "min_samples" in params else "min_cluster_size"
            raise ValueError(f"{name} ({key_of}) is larger than the number of points ({len(X)})")
    key = make_key("clusters", source_key, method, params)
    if progress:
        progress(1, 2)
    if not store.has_arrays(key):
        result = clustering.cluster(X, method, random_state=0, **params)
        arrays = {"labels": np.asarray(result.labels, dtype=np.int64), "sizes": np.asarray(result.sizes, dtype=np.int64)}
        if result.probabilities is not None:
            arrays["probabilities"] = np.asarray(result.probabilities, dtype=np.float64)
        store.save_arrays(key, **arrays)
    sizes = store.load_arrays(key)["sizes"]
    if progress:
        progress(2, 2)
    return {
        "key": key, "method": method, "params": params, "n_clusters": int(len(sizes)),
        "features": features_key, "map": map_state["coords"] if map_state else None, "space": space,
    }


def cluster_labels(store: Store, cluster_state: dict) -> np.ndarray:
    return store.load_arrays(cluster_state["key"])["labels"]


def cluster_sizes(labels: np.ndarray) -> list[tuple[int, int]]:
    """(label, size) of each cluster, largest first, then noise (-1) if any."""
    values, counts = np.unique(np.asarray(labels, dtype=np.int64), return_counts=True)
    pairs = [(int(v), int(c)) for v, c in zip(values, counts)]
    return sorted(pairs, key=lambda p: (p[0] < 0, -p[1], p[0]))


def label_name(label: int) -> str:
    return "noise" if label < 0 else f"cluster {label}"


def cluster_selection(store: Store, cluster_state: dict, label) -> dict:
    """The selection state of the rows in cluster ``label`` (``-1``: the noise points)."""
    if label is None or label == "":
        raise ValueError("choose a cluster first")
    label = int(label)
    labels = cluster_labels(store, cluster_state)
    rows = np.flatnonzero(labels == label)
    if rows.size == 0:
        raise ValueError(f"there is no {label_name(label)} in the current clustering")
    return {"rows": rows.tolist(), "source": "cluster"}


def describe(cluster_state: dict) -> str:
    params = ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in cluster_state.get("params", {}).items())
    return (f"{METHODS.get(cluster_state['method'], cluster_state['method'])} ({params}) {SPACES.get(cluster_state['space'], '')}: "
            f"{cluster_state['n_clusters']} cluster{'' if cluster_state['n_clusters'] == 1 else 's'}")


def summary(store: Store, cluster_state: dict | None, features_state: dict | None):
    """(sizes figure, sizes list, dropdown options) for the current clustering."""
    if not cluster_state or (features_state and cluster_state.get("features") != features_state.get("key")):
        return figures.empty_figure("No clusters yet: choose a method and run"), [], []
    labels = cluster_labels(store, cluster_state)
    sizes = cluster_sizes(labels)
    total = len(labels)
    items = [html.Li(f"{label_name(label)}: {size} ({100 * size / total:.1f} %)", **{"data-cluster": str(label)})
             for label, size in sizes]
    listing = [html.Div(describe(cluster_state), className="cluster-description"), html.Ul(items, className="cluster-size-items")]
    options = [{"label": f"{label_name(label)} ({size})", "value": label} for label, size in sizes]
    return figures.cluster_sizes_figure(labels), listing, options


def clicked_label(click_data) -> int | None:
    """The cluster label of a clicked bar of the sizes figure (its ``customdata[0]``)."""
    points = (click_data or {}).get("points") or []
    if not points:
        return None
    custom = points[0].get("customdata")
    if isinstance(custom, (list, tuple)):
        custom = custom[0] if custom else None
    if custom is None or isinstance(custom, dict):  # absent, or still base64-encoded: the bar's x
        x = points[0].get("x")
        return -1 if x == "noise" else (int(x) if x is not None else None)
    return int(custom)


# -- callbacks -------------------------------------------------------------------------------------


@callbacks.server(
    *[Output(f"{_id(name)}-field", "style") for name, *_ in FIELDS],
    Input("clusters-method", "value"),
)
def on_method(method):
    wanted = METHOD_PARAMS.get(method, ())
    return [None if name in wanted else {"display": "none"} for name, *_ in FIELDS]


@callbacks.server(
    Output(state.CLUSTERS, "data"),
    Input("clusters-run", "n_clicks"),
    State(state.MAP, "data"),
    State(state.FEATURES, "data"),
    State("clusters-method", "value"),
    State(_id("n_clusters"), "value"),
    State(_id("eps"), "value"),
    State(_id("min_samples"), "value"),
    State(_id("min_cluster_size"), "value"),
    State("clusters-space", "value"),
    background=True,
    interval=250,
    progress=[Output("clusters-progress", "value"), Output("clusters-progress", "max")],
    **run_and_cancel(callbacks, "clusters-run", "clusters-cancel", "Clustering cancelled."),
    prevent_initial_call=True,
    on_error=failure_handler("Clustering", outputs=1),
)
def on_run_clustering(set_progress, _clicks, map_state, features_state, method, n_clusters, eps, min_samples,
                      min_cluster_size, space):
    set_progress(("0", "2"))
    try:
        params = read_params(method, n_clusters, eps, min_samples, min_cluster_size)
        cluster_state = run_clustering(
            state.current_store(), map_state, features_state, method, params, space or "map",
            progress=lambda done, total: set_progress((str(done), str(total))),
        )
    except (ValueError, DatasetError, UnknownIdError) as error:
        set_progress(("0", "1"))
        messages.say(messages.error(f"Clustering not run: {error}"))
        return no_update
    set_progress(("1", "1"))
    messages.say(describe(cluster_state))
    return cluster_state


@callbacks.server(
    Output("clusters-sizes-graph", "figure"),
    Output("clusters-sizes-list", "children"),
    Output("clusters-choice", "options"),
    Output("clusters-choice", "value"),
    Input(state.CLUSTERS, "data"),
    Input(state.FEATURES, "data"),
    State("clusters-choice", "value"),
)
def on_cluster_state(cluster_state, features_state, chosen):
    try:
        figure, listing, options = summary(state.current_store(), cluster_state, features_state)
    except UnknownIdError:
        figure, listing, options = figures.empty_figure("No clusters yet: choose a method and run"), [], []
    valid = [o["value"] for o in options]
    return figure, listing, options, chosen if chosen in valid else (valid[0] if valid else None)


@callbacks.server(
    Output(state.SELECTION, "data", allow_duplicate=True),
    Input("clusters-use-selection", "n_clicks"),
    Input("clusters-sizes-graph", "clickData"),
    State("clusters-choice", "value"),
    State(state.CLUSTERS, "data"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)
def on_use_cluster(_clicks, click_data, chosen, cluster_state, map_state):
    label = clicked_label(click_data) if "clusters-sizes-graph" in state.triggered() else chosen
    if not cluster_state:
        messages.say(messages.error("No clusters yet: run a clustering first"))
        return no_update
    if map_state and map_state.get("features") != cluster_state.get("features"):
        messages.say(messages.error("These clusters belong to other features: run the clustering again"))
        return no_update
    try:
        selection = cluster_selection(state.current_store(), cluster_state, label)
    except (ValueError, UnknownIdError) as error:
        messages.say(messages.error(f"No selection made: {error}"))
        return no_update
    messages.say(f"Selected {label_name(int(label))}: {len(selection['rows'])} points")
    return selection
