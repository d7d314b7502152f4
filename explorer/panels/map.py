"""The map: projection method, target and live mixing, colours and sizes, and the map itself.

Two background jobs feed it: ``on_compute_map`` (fit the projection; cached by features, method
and target) and ``on_compute_predictions`` (out-of-fold predictions of the target, for colouring
by predicted value or error). Moving the mixing slider re-fits only what depends on the mixing
(``compute.maps.reproject``) in an ordinary callback.
"""

from __future__ import annotations

import numpy as np
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from compute import budget, defaults, maps, models, tensors
from compute.datasets import DatasetError
from compute.descriptors import DESCRIPTORS

from .. import figures, messages, state
from ..jobs import JobFailed, failure_handler
from ..rows import (ABS_ERROR, CLUSTER, ERROR, PREDICTED, Rows, atom_row_positions, choice_name, default_color, first_numeric_property, is_tensor_choice,
                    map_rows, property_options, property_values, row_names, tensor_options, tensor_values)
from ..store import Store, UnknownIdError, make_key, model_lock
from .descriptors import load_features

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

N_COMPONENTS = defaults.MAP_COMPONENTS
#: predictions use sparse kernel ridge (this many active rows) above this many rows with a target
METHOD_OPTIONS = [{"label": label, "value": value} for value, label in maps.METHODS.items()]


def layout() -> html.Div:
    component_options = [{"label": f"{k + 1}", "value": k} for k in range(N_COMPONENTS)]
    return html.Div(
        [
            html.H4("Map"),
            html.Label(["projection", dcc.Dropdown(id="projection-method", options=METHOD_OPTIONS, value="pca", clearable=False)], className="field"),
            html.Label(["target property", dcc.Dropdown(id="target-property", options=[], value=None, placeholder="(none)")], className="field"),
            html.Label(
                ["mixing (1 = PCA, 0 = regression)",
                 dcc.Slider(id="mixing-slider", min=0.0, max=1.0, step=0.05, value=0.5, marks={0: "0", 0.5: "0.5", 1: "1"},
                            updatemode="mouseup", tooltip={"placement": "bottom"}, disabled=True),
                 html.Div(id="map-mixing-hint", className="hint")],
                className="field",
            ),
            html.Div(
                [
                    dcc.RadioItems(id="map-dims", options=[{"label": "2D", "value": 2}, {"label": "3D", "value": 3}], value=2, inline=True),
                    html.Label(["x", dcc.Dropdown(id="map-x", options=component_options, value=0, clearable=False)], className="axis-field"),
                    html.Label(["y", dcc.Dropdown(id="map-y", options=component_options, value=1, clearable=False)], className="axis-field"),
                    html.Label(["z", dcc.Dropdown(id="map-z", options=component_options, value=2, clearable=False)], className="axis-field"),
                ],
                className="axis-row",
            ),
            html.Label(["colour by", dcc.Dropdown(id="color-by", options=[], value=None, placeholder="(none)")], className="field"),
            dcc.Checklist(id="map-color-log", options=[{"label": "log colour scale", "value": "log"}], value=[], inline=True),
            html.Label(["marker size by", dcc.Dropdown(id="map-size-by", options=[], value=None, placeholder="(uniform)")], className="field"),
            html.Progress(id="map-progress", value="0", max="1", className="progress"),
        ],
        className="panel",
    )


def graph() -> html.Div:
    return html.Div(
        [
            dcc.Graph(
                id="map-graph",
                figure=figures.empty_figure("Computing the map…"),
                config={**figures.GRAPH_CONFIG, "scrollZoom": True,
                        "toImageButtonOptions": {"format": "png", "scale": 2}},
                className="map-graph",
            ),
            # shown when the map is coloured by the model: predicted against reference (out-of-fold)
            html.Div(dcc.Graph(id="map-parity-graph", figure=figures.empty_figure(""), config=figures.GRAPH_CONFIG,
                               style={"height": "320px"}),
                     id="map-parity-area", style={"display": "none"}),
            html.Div(id="map-js-sink", hidden=True),
            html.Div(
                [
                    dcc.Checklist(id="map-vector", options=[{"label": "vector rendering (for SVG)", "value": "svg"}], value=[], inline=True),
                    html.Button("Save PNG", id="map-save-png", n_clicks=0, className="button"),
                    html.Button("Save SVG", id="map-save-svg", n_clicks=0, className="button"),
                ],
                className="button-row",
            ),
        ],
        className="map-area",
    )


# -- logic -----------------------------------------------------------------------------------------


def target_values(store: Store, dataset_id: str, per: str, target: str | None):
    if not target:
        return None
    dataset = store.dataset(dataset_id)
    rows = map_rows(dataset, per)
    if is_tensor_choice(target):  # (n_rows, 3 or 6): a whole vector or tensor
        values = tensor_values(dataset, rows, target)
        if not np.isfinite(values).all(axis=1).any():
            raise ValueError(f"the target {choice_name(target)!r} has no row with every component finite")
        return values
    values = property_values(dataset, rows, target)
    if values.dtype == object:
        raise ValueError(f"the target {choice_name(target)!r} is not numeric")
    if not np.isfinite(values).any():
        raise ValueError(f"the target {choice_name(target)!r} has no finite value")
    return values


def compute_map(store: Store, features_state: dict, method: str, target: str | None, mixing: float, backend: str = "auto",
                progress=None) -> dict:
    """Fit the projection (cached by features, method and target) and return the map state.

    ``progress(step)`` is told 1 when the inputs are loaded and 2 when the projection is fitted.
    """
    progress = progress or (lambda step: None)
    uses_target = method in maps.SUPERVISED
    model_key = make_key("map", features_state["key"], method, target if uses_target else None)
    if not store.has_arrays(model_key):
        X, _ = load_features(store, features_state)
        y = target_values(store, features_state["dataset"], features_state["per"], target) if uses_target else None
        progress(1)
        fitted_rows = X.shape[0] if y is None else int(np.isfinite(y).sum())
        if method in maps.KERNEL_METHODS:  # the kernel (or Nyström features) of every row, refused before it is built
            columns = min(maps.auto_n_active(fitted_rows) or fitted_rows, fitted_rows)
            budget.check_matrix_bytes(budget.current(), X.shape[0], columns, what="the kernel matrix", kind="kernel")
        n_components = max(1, min(N_COMPONENTS, fitted_rows - 1, X.shape[1]))
        result = maps.project(X, method, y=y, mixing=mixing, n_components=n_components, backend=backend)
        progress(2)
        store.save_model(model_key, result)
        store.save_arrays(model_key, coordinates=result.coordinates, axis_titles=np.array(result.axis_titles), mixing=np.array(mixing))
    arrays = store.load_arrays(model_key)
    map_state = {
        "model": model_key, "coords": model_key, "features": features_state["key"], "dataset": features_state["dataset"],
        "per": features_state["per"], "method": method, "target": target if uses_target else None,
        "axis_titles": arrays["axis_titles"].tolist(), "mixing": float(arrays["mixing"]),
        "descriptor": features_state.get("descriptor", "soap"),
    }
    if uses_target and abs(map_state["mixing"] - mixing) > 1e-12:
        map_state = move_mixing(store, map_state, features_state, mixing)
    return map_state


def move_mixing(store: Store, map_state: dict, features_state: dict, mixing: float) -> dict:
    """The map at another mixing: re-fits only the mixing-dependent part of the cached model."""
    if map_state.get("method") not in maps.SUPERVISED:
        return map_state
    coords_key = make_key("coords", map_state["model"], round(float(mixing), 6))
    if not store.has_arrays(coords_key):
        X, _ = load_features(store, features_state)
        with model_lock(map_state["model"]):
            result = store.load_model(map_state["model"])
            maps.reproject(result, X, float(mixing))
            coordinates = result.coordinates
        store.save_arrays(coords_key, coordinates=coordinates)
    return {**map_state, "coords": coords_key, "mixing": float(mixing)}


def structure_groups(store: Store, features_state: dict):
    """Per-atom maps: the structure of each row, so cross-validation never splits a structure's
    atoms (which share its properties) between training and test. None per structure."""
    if features_state["per"] != "atom":
        return None
    return map_rows(store.dataset(features_state["dataset"]), "atom").structure


def compute_predictions(store: Store, features_state: dict, target: str) -> dict:
    """Out-of-fold predictions of ``target`` by the app's model for it
    (``compute.defaults.property_model``, as its learning curve), cached."""
    key = make_key("predictions", features_state["key"], target)
    if is_tensor_choice(target):
        if not store.has_arrays(key):
            predicted, y = predict_tensor(store, features_state, target)
            store.save_arrays(key, predicted=predicted, target=y)
        return {"key": key, "target": target, "features": features_state["key"]}
    if not store.has_arrays(key):
        X, _ = load_features(store, features_state)
        y = target_values(store, features_state["dataset"], features_state["per"], target)
        groups = structure_groups(store, features_state)
        fitted = int(np.isfinite(y).sum())
        model, params = defaults.property_model(fitted, bool(features_state.get("hypers")))
        budget.check_matrix_bytes(budget.current(), X.shape[0], defaults.kernel_columns(model, params, fitted),
                                  what="the kernel matrix", kind="kernel")
        predicted = models.cross_val_predict(X, y, model=model, n_splits=defaults.N_SPLITS, groups=groups, **params)
        store.save_arrays(key, predicted=predicted, target=y)
    return {"key": key, "target": target, "features": features_state["key"]}


def predict_tensor(store: Store, features_state: dict, target: str) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions of a whole vector or tensor property by the app's tensor model
    (``compute.defaults.tensor_model``, on λ-SOAP: equivariant by construction), from the
    structures themselves with the features' cutoff: ``(predicted, reference)``, each
    ``(n_rows, 3 or 6)`` in the property's own component order."""
    dataset = store.dataset(features_state["dataset"])
    if dataset.structures is None:
        raise ValueError("a vector or tensor model needs structures: this dataset is a features table")
    per = features_state["per"]
    rows = map_rows(dataset, per)
    y = target_values(store, features_state["dataset"], per, target)
    rank = 1 if y.shape[1] == 3 else 2
    model, params = defaults.tensor_model()
    descriptor = defaults.tensor_descriptor(features_state.get("hypers"))
    if not target.startswith("atom:"):
        # a structure's property is a sum over its atoms, learned per structure whatever the map
        # shows; per-atom rows get their structure's prediction
        whole = tensor_values(dataset, map_rows(dataset, "structure"), target)
        predicted = tensors.tensor_out_of_fold(dataset.structures, whole, rank, per="structure", model=model,
                                               n_splits=defaults.N_SPLITS, descriptor=descriptor, **params)
        return predicted[rows.structure], y
    # an atom's property: learned per atom, over every atom of the structures; map rows may be
    # some of them (a chemiscope file's environments): the others enter as missing targets
    flat = atom_row_positions(dataset, rows)
    full = y
    if not np.array_equal(flat, np.arange(dataset.n_atoms)):
        full = np.full((dataset.n_atoms, y.shape[1]), np.nan)
        full[flat] = y
    predicted = tensors.tensor_out_of_fold(dataset.structures, full, rank, per="atom", model=model, n_splits=defaults.N_SPLITS,
                                           descriptor=descriptor, **params)
    return predicted[flat], y


def error_values(arrays, color_by: str, name: str) -> tuple[np.ndarray, str]:
    """The colour of a prediction choice: the value and its signed error for a scalar; for a
    vector or tensor, the length of the prediction and of its error (a Euclidean norm over the
    components, the same whichever way the structure is turned)."""
    predicted, target = arrays["predicted"], arrays["target"]
    if predicted.ndim == 2:
        if color_by == PREDICTED:
            return np.linalg.norm(predicted, axis=1), f"|predicted {name}|"
        return np.linalg.norm(predicted - target, axis=1), f"|error| of {name} (norm over its components)"
    if color_by == PREDICTED:
        return predicted, f"predicted {name}"
    if color_by == ABS_ERROR:
        return np.abs(predicted - target), f"|error| in {name}"
    return predicted - target, f"error in {name} (predicted − reference)"


def color_values(store: Store, dataset, rows: Rows, color_by: str | None, prediction_state: dict | None, cluster_state: dict | None):
    """(values, name, kind) for the colour choice; (None, "", None) when nothing applies yet."""
    if not color_by:
        return None, "", None
    if color_by in (PREDICTED, ERROR, ABS_ERROR):
        if not prediction_state:
            return None, "", None
        arrays = store.load_arrays(prediction_state["key"])
        values, title = error_values(arrays, color_by, choice_name(prediction_state["target"]))
        return values, title, "numeric"
    if color_by == CLUSTER:
        if not cluster_state:
            return None, "", None
        labels = store.load_arrays(cluster_state["key"])["labels"]
        return labels, "cluster", "categorical"
    values = property_values(dataset, rows, color_by)
    return values, color_by.partition(":")[2], "categorical" if values.dtype == object else "numeric"


def descriptor_note(map_state: dict) -> str:
    """The map title's mention of a descriptor other than the default power spectrum."""
    name = map_state.get("descriptor", "soap")
    return "" if name == "soap" or name not in DESCRIPTORS else f" · {DESCRIPTORS[name][0]}"


def draw_map(store: Store, map_state: dict, *, color_by=None, log_color=False, size_by=None, dims=2, axes=(0, 1, 2),
             selection=None, prediction_state=None, cluster_state=None, vector=False, shown_row=None):
    dataset = store.dataset(map_state["dataset"])
    rows = map_rows(dataset, map_state["per"])
    coordinates = store.load_arrays(map_state["coords"])["coordinates"]
    coords, titles = map_axes(dataset, rows, coordinates, map_state["axis_titles"], axes[: int(dims)])
    color, color_name, color_kind = color_values(store, dataset, rows, color_by, prediction_state, cluster_state)
    size = property_values(dataset, rows, size_by) if size_by and not size_by.startswith("map:") else None
    if size is not None and size.dtype == object:
        size = None
    hover = {}
    # a scalar's error has a sign (a scale centred on 0); a vector's is a length
    signed_error = color_by == ERROR and not (prediction_state and is_tensor_choice(prediction_state.get("target")))
    target = map_state.get("target")
    if target and is_tensor_choice(target):
        hover[f"|{choice_name(target)}|"] = np.linalg.norm(tensor_values(dataset, rows, target), axis=1)
    elif target:
        hover[choice_name(target)] = property_values(dataset, rows, target)
    method = maps.METHODS[map_state["method"]]
    mixing = f" (mixing {map_state['mixing']:.2f})" if map_state["method"] in maps.SUPERVISED else ""
    return figures.map_figure(
        coords,
        color=color, color_name=color_name, color_kind=color_kind, log_color=log_color, diverging=signed_error,
        size=size, size_name=(size_by or "").partition(":")[2],
        hover=hover, names=row_names(dataset, rows),
        index_name="environment" if rows.per == "atom" else "structure",
        axis_titles=titles,
        selected=np.asarray(selection["rows"], dtype=np.int64) if selection and selection.get("rows") else None,
        ring=shown_row,
        for_export=vector,
        title=f"{method}{mixing} of {dataset.name}{descriptor_note(map_state)}",
        # zoom and pan stay while the colour, size or selection change; new axes start afresh
        uirevision="|".join(str(a) for a in (map_state["model"], dims, *axes[: int(dims)])),
    )


def map_axes(dataset, rows: Rows, coordinates: np.ndarray, axis_titles, axes) -> tuple[np.ndarray, list[str]]:
    """The columns drawn on the map's axes, and their titles: each axis is a map component (an
    int) or any numeric property (``structure:energy``, as chemiscope allows: energy against
    volume, or a chemiscope file's own ``PCA_1``). Repeated or unusable choices fall back to the
    first components; a one-component map is drawn against zero."""
    n_components = coordinates.shape[1]
    columns, titles = [], []
    for axis in axes:
        if isinstance(axis, (int, np.integer)) and 0 <= axis < n_components:
            columns.append(coordinates[:, int(axis)])
            titles.append(axis_titles[int(axis)])
        elif isinstance(axis, str):
            try:
                values = property_values(dataset, rows, axis)
            except KeyError:
                break
            if values.dtype == object:
                break
            columns.append(values.astype(np.float64))
            titles.append(axis.partition(":")[2])
        else:
            break
    if len(columns) < len(axes) or len(set(titles)) < len(titles):
        keep = list(range(min(len(axes), n_components)))
        columns, titles = [coordinates[:, k] for k in keep], [axis_titles[k] for k in keep]
    if len(columns) == 1:
        columns, titles = [columns[0], np.zeros(len(coordinates))], [titles[0], ""]
    return np.column_stack(columns), titles


def axis_options(numeric_properties: list[dict]) -> list[dict]:
    """Map axes: the components (1-4), then every numeric property."""
    return [{"label": f"{k + 1}", "value": k} for k in range(N_COMPONENTS)] + numeric_properties


def map_options(store: Store, dataset_state: dict, per: str):
    """Options of the colour, size and target dropdowns for a dataset and mode, and the default
    colour and target."""
    dataset = store.dataset(dataset_state["id"])
    per = per if dataset.structures is not None else "structure"
    properties = property_options(dataset, per)
    numeric = property_options(dataset, per, numeric_only=True)
    special = [{"label": "predicted target (out-of-fold)", "value": PREDICTED},
               {"label": "prediction error", "value": ERROR},
               {"label": "absolute prediction error", "value": ABS_ERROR},
               {"label": "cluster", "value": CLUSTER}]
    targets = numeric + tensor_options(dataset, per)
    return properties + special, numeric, targets, default_color(dataset, per), first_numeric_property(dataset, per)


# -- callbacks -------------------------------------------------------------------------------------


@callbacks.server(
    Output("color-by", "options"),
    Output("map-size-by", "options"),
    Output("target-property", "options"),
    Output("color-by", "value"),
    Output("target-property", "value"),
    Output("map-x", "options"),
    Output("map-y", "options"),
    Output("map-z", "options"),
    Input(state.FEATURES, "data"),
    State(state.DATASET, "data"),
    State("color-by", "value"),
    State("target-property", "value"),
)
def on_options(features_state, dataset_state, color_by, target):
    if not features_state or not dataset_state or features_state.get("dataset") != dataset_state.get("id"):
        return (no_update,) * 8
    try:
        color_options, size_options, target_options, default_colour, default_target = map_options(
            state.current_store(), dataset_state, features_state["per"])
    except UnknownIdError:
        return (no_update,) * 8
    axes = axis_options(size_options)  # the numeric properties (no whole vector)
    valid_color = {o["value"] for o in color_options}
    valid_target = {o["value"] for o in target_options}
    return (
        color_options, size_options, target_options,
        color_by if color_by in valid_color else default_colour,
        target if target in valid_target else default_target,
        axes, axes, axes,
    )


@callbacks.server(
    Output("color-by", "value", allow_duplicate=True),
    Input(state.CLUSTERS, "data"),
    prevent_initial_call=True,
)
def on_new_clusters(cluster_state):
    """A clustering run ends: the map shows its clusters."""
    return CLUSTER if cluster_state else no_update


@callbacks.server(
    Output(state.MAP, "data"),
    Input(state.FEATURES, "data"),
    Input("projection-method", "value"),
    Input("target-property", "value"),
    State("mixing-slider", "value"),
    background=True,
    interval=250,
    progress=[Output("map-progress", "value"), Output("map-progress", "max")],
    prevent_initial_call=True,
    on_error=failure_handler("Computing the map", outputs=1),
)
def on_compute_map(set_progress, features_state, method, target, mixing):
    if not features_state:
        return no_update
    set_progress(("0", "3"))
    try:
        map_state = compute_map(state.current_store(), features_state, method or "pca", target, float(mixing), state.current_settings().backend,
                                progress=lambda done: set_progress((str(done), "3")))
    except (ValueError, DatasetError, UnknownIdError) as error:
        messages.say(messages.error(f"Map not computed: {error}"))
        return no_update
    set_progress(("1", "1"))
    return map_state


def mixing_control(method: str | None) -> tuple[bool, str]:
    """(slider disabled, hint) for a projection: only PCovR and kernel PCovR mix."""
    if method in maps.SUPERVISED:
        return False, "0 fits the target only, 1 is plain (kernel) PCA; needs a target property"
    return True, "Mixing applies to PCovR and kernel PCovR (choose one above)"


@callbacks.server(
    Output("mixing-slider", "disabled"),
    Output("map-mixing-hint", "children"),
    Input("projection-method", "value"),
)
def on_method(method):
    return mixing_control(method)


@callbacks.server(
    Output(state.MAP, "data", allow_duplicate=True),
    Input("mixing-slider", "value"),
    State(state.MAP, "data"),
    State(state.FEATURES, "data"),
    prevent_initial_call=True,
)
def on_mixing(mixing, map_state, features_state):
    if not map_state or map_state.get("method") not in maps.SUPERVISED or not features_state:
        return no_update
    if features_state["key"] != map_state["features"]:
        return no_update
    try:
        return move_mixing(state.current_store(), map_state, features_state, float(mixing))
    except (ValueError, UnknownIdError) as error:
        messages.say(messages.error(f"Mixing not applied: {error}"))
        return no_update


@callbacks.server(
    Output(state.PREDICTIONS, "data"),
    Input(state.FEATURES, "data"),
    Input("target-property", "value"),
    Input("color-by", "value"),
    State(state.PREDICTIONS, "data"),
    background=True,
    interval=500,
    prevent_initial_call=True,
    on_error=failure_handler("Predicting the target"),
)
def on_compute_predictions(features_state, target, color_by, prediction_state):
    # only when asked for: colouring by prediction or error needs a target
    if not features_state or not target or color_by not in (PREDICTED, ERROR, ABS_ERROR):
        return no_update
    if prediction_state and prediction_state.get("features") == features_state["key"] and prediction_state.get("target") == target:
        return no_update
    try:
        return compute_predictions(state.current_store(), features_state, target)
    except UnknownIdError:
        return None  # another dataset was opened meanwhile
    except ValueError as error:  # a target that cannot be learned, a kernel over its budget: said on the page
        raise JobFailed(str(error)) from None


@callbacks.server(
    Output("map-graph", "figure"),
    Input(state.MAP, "data"),
    Input("color-by", "value"),
    Input("map-color-log", "value"),
    Input("map-size-by", "value"),
    Input("map-dims", "value"),
    Input("map-x", "value"),
    Input("map-y", "value"),
    Input("map-z", "value"),
    Input(state.SELECTION, "data"),
    Input(state.PREDICTIONS, "data"),
    Input(state.CLUSTERS, "data"),
    Input("map-vector", "value"),
    State(state.DATASET, "data"),
    State("viewer-state", "data"),
)
def on_draw(map_state, color_by, color_log, size_by, dims, x, y, z, selection, prediction_state, cluster_state, vector, dataset_state,
            viewer_state):
    if not map_state or not dataset_state or map_state.get("dataset") != dataset_state.get("id"):
        return no_update
    if state.triggered() == {state.SELECTION} and int(dims or 2) == 2:
        return no_update  # a 2D map shows a new selection without a redraw (map_interaction.js)
    shown_row = None
    if viewer_state and viewer_state.get("dataset") == map_state["dataset"] and viewer_state.get("per") == map_state["per"]:
        shown_row = viewer_state.get("row")
    try:
        return draw_map(
            state.current_store(), map_state, color_by=color_by, log_color="log" in (color_log or []), size_by=size_by,
            dims=dims or 2, axes=(x, y, z), selection=selection, prediction_state=prediction_state,
            cluster_state=cluster_state if cluster_state and cluster_state.get("features") == map_state["features"] else None,
            vector="svg" in (vector or []), shown_row=shown_row,
        )
    except (KeyError, UnknownIdError, ValueError) as error:
        return figures.empty_figure(f"Cannot draw the map: {error}")


def parity_view(store: Store, features_state: dict | None, prediction_state: dict | None, color_by: str | None):
    """(figure, style) of the parity plot: shown while the map is coloured by the model's
    prediction or error for these features; hidden otherwise."""
    hidden = (no_update, {"display": "none"})
    if color_by not in (PREDICTED, ERROR, ABS_ERROR) or not prediction_state or not features_state:
        return hidden
    if prediction_state.get("features") != features_state.get("key"):
        return hidden
    arrays = store.load_arrays(prediction_state["key"])
    dataset = store.dataset(features_state["dataset"])
    rows = map_rows(dataset, features_state["per"])
    name = choice_name(prediction_state["target"])
    reference, predicted, names = arrays["target"], arrays["predicted"], row_names(dataset, rows)
    index = None
    if predicted.ndim == 2:  # every component of every row: a rotation-blind model would scatter here
        k = predicted.shape[1]
        names = np.array([f"{n} [{c + 1}]" for n in names for c in range(k)], dtype=object)
        index = np.repeat(np.arange(len(rows)), k)  # a click on any component shows its row's structure
        reference, predicted, name = reference.ravel(), predicted.ravel(), f"{name} (all {k} components)"
    figure = figures.parity_figure(reference, predicted, name=name, names=names, index=index)
    return figure, {"display": "block"}


@callbacks.server(
    Output("map-parity-graph", "figure"),
    Output("map-parity-area", "style"),
    Input("color-by", "value"),
    Input(state.PREDICTIONS, "data"),
    State(state.FEATURES, "data"),
)
def on_parity(color_by, prediction_state, features_state):
    try:
        return parity_view(state.current_store(), features_state, prediction_state, color_by)
    except (UnknownIdError, KeyError):
        return no_update, {"display": "none"}


# the selection and the ring around the shown structure are drawn in the browser (no redraw)
callbacks.clientside(
    ClientsideFunction(namespace="explorer_map", function_name="show_selection"),
    Output("map-js-sink", "title"),
    Input(state.SELECTION, "data"),
)
callbacks.clientside(
    ClientsideFunction(namespace="explorer_map", function_name="show_ring"),
    Output("map-js-sink", "lang"),
    Input("viewer-state", "data"),
)


callbacks.clientside(
    """
    function(png, svg) {
        const trigger = (dash_clientside.callback_context.triggered[0] || {}).prop_id || "";
        const graph = document.querySelector('#map-graph .js-plotly-plot');
        if (!graph || !trigger) { return window.dash_clientside.no_update; }
        const format = trigger.startsWith('map-save-svg') ? 'svg' : 'png';
        Plotly.downloadImage(graph, {format: format, filename: 'structure-map', scale: format === 'png' ? 2 : 1});
        return window.dash_clientside.no_update;
    }
    """,
    Output("map-save-png", "title"),
    Input("map-save-png", "n_clicks"),
    Input("map-save-svg", "n_clicks"),
    prevent_initial_call=True,
)
