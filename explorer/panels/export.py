"""Select and export: the current selection, "N most diverse (FPS)", and downloads.

The selection (``state.SELECTION``: ``{"rows": [...map rows...], "source": ...}``) is written by
the map's lasso, by a cluster, or here by farthest point sampling on the features. It is exported
as extended XYZ (the default), CSV, NPZ or a chemiscope JSON file; "Select N features" exports
just N feature columns (FPS or CUR over the features) with their names.

Map rows are structures (per-structure mode) or environments (per-atom mode); the writers of
:mod:`compute.export` take structure indices or rows of ``dataset.atom_properties``, so
:func:`writer_indices` converts. Files are built on the server and named here
(``<dataset stem>-selection.<ext>``, the stem reduced to ``[A-Za-z0-9._-]``); only bytes travel.

Ids: ``export-selection-summary``, ``export-clear-selection``, ``export-fps-count``, ``export-fps-run``,
``export-format``, ``export-selection``, ``export-download``, ``export-feature-count``,
``export-feature-method``, ``export-features``, ``export-features-download``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from dash import Input, Output, State, dcc, html, no_update

from compute import export
from compute.datasets import DatasetError
from compute.selection import CUR, FPS, fps_indices

from .. import messages, state
from ..jobs import failure_handler, run_and_cancel
from ..rows import ABS_ERROR, CLUSTER, ERROR, PREDICTED, Rows, atom_table_positions, choice_name, map_rows, numeric_columns, shape_groups
from ..store import Store, UnknownIdError
from .descriptors import load_features

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

#: (value, label, file suffix) of each export format; the first is the default
FORMATS = [
    ("extxyz", "extended XYZ (structures + properties)", ".xyz"),
    ("csv", "CSV (indices, map coordinates, properties)", ".csv"),
    ("npz", "NPZ (features with names)", ".npz"),
    ("chemiscope", "chemiscope JSON", ".chemiscope.json"),
    ("ase-db", "ASE database (SQLite)", ".db"),
]
FEATURE_METHODS = [("fps", "FPS"), ("cur", "CUR")]
NOTHING_SELECTED = "select points first: lasso or box on the map, a cluster, FPS, or the table's filters"
#: the same, as the export tab says it while nothing is selected
NOTHING_SELECTED_SENTENCE = NOTHING_SELECTED[0].upper() + NOTHING_SELECTED[1:]
#: feature selection is fitted on at most this many rows (evenly spaced) to stay interactive
MAX_FIT_ROWS = 20_000
DEFAULT_FPS_COUNT = 50
DEFAULT_FEATURE_COUNT = 20


def layout() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.Span(NOTHING_SELECTED_SENTENCE, id="export-selection-summary", className="export-selection-summary"),
                    html.Button("Clear selection", id="export-clear-selection", n_clicks=0, className="button"),
                ],
                className="button-row",
            ),
            html.Div(
                [
                    html.Label(["N most diverse (FPS)",
                                dcc.Input(id="export-fps-count", type="number", min=1, step=1, value=DEFAULT_FPS_COUNT, className="number-input")],
                               className="field"),
                    html.Button("Select", id="export-fps-run", n_clicks=0, className="button"),
                    html.Button("Cancel", id="export-fps-cancel", n_clicks=0, className="button", disabled=True),
                ],
                className="button-row",
            ),
            html.Div(
                [
                    html.Label(["export format",
                                dcc.Dropdown(id="export-format", options=[{"label": label, "value": value} for value, label, _ in FORMATS],
                                             value=FORMATS[0][0], clearable=False, style={"minWidth": "300px"})],
                               className="field"),
                    html.Button("Export selection", id="export-selection", n_clicks=0, className="button primary"),
                    dcc.Download(id="export-download"),
                ],
                className="button-row",
            ),
            html.Div(
                [
                    html.Label(["select N features",
                                dcc.Input(id="export-feature-count", type="number", min=1, step=1, value=DEFAULT_FEATURE_COUNT, className="number-input")],
                               className="field"),
                    html.Label(["by",
                                dcc.Dropdown(id="export-feature-method", options=[{"label": label, "value": value} for value, label in FEATURE_METHODS],
                                             value="fps", clearable=False, style={"minWidth": "90px"})],
                               className="field"),
                    html.Button("Export features (NPZ)", id="export-features", n_clicks=0, className="button"),
                    html.Button("Cancel", id="export-features-cancel", n_clicks=0, className="button", disabled=True),
                    dcc.Download(id="export-features-download"),
                ],
                className="button-row",
            ),
            html.Div("Feature columns are exported for the selected rows, or for every row when nothing is selected.", className="hint"),
            dcc.Store(id="export-context"),
        ],
        className="panel export-panel",
    )


# -- logic -----------------------------------------------------------------------------------------


def safe_stem(name: str | None) -> str:
    """A file-name stem from a dataset's display name: only ``[A-Za-z0-9._-]``, no leading dot."""
    stem = Path(str(name or "")).name
    for suffix in (".gz", ".bz2", ".xz"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    stem = stem.rsplit(".", 1)[0] if "." in stem.lstrip(".") else stem
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")
    stem = re.sub(r"\.{2,}", ".", stem)[:80].strip("._-")
    return stem or "dataset"


def _kind(features_state: dict | None, n: int) -> str:
    if features_state and features_state.get("per") == "atom":
        word = "environment"
    elif features_state and features_state.get("hypers") == {}:
        word = "row"
    else:
        word = "structure"
    return word if n == 1 else word + "s"


def selected_rows(selection: dict | None, n_rows: int) -> np.ndarray:
    """The selected map rows, checked: ValueError when nothing is selected or rows are stale."""
    rows = np.asarray((selection or {}).get("rows") or [], dtype=np.int64).reshape(-1)
    if rows.size == 0:
        raise ValueError(NOTHING_SELECTED)
    if rows.min() < 0 or rows.max() >= n_rows:
        raise ValueError("the selection does not belong to the current map (another dataset or mode): select again")
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]  # drop repeats, keep the order


def writer_indices(dataset, rows: Rows, selected: np.ndarray) -> np.ndarray:
    """Indices for :mod:`compute.export`: structures per structure, rows of ``atom_properties``
    per atom (the centre atoms of the selected environments)."""
    if rows.per != "atom":
        return selected
    positions = atom_table_positions(dataset, Rows("atom", rows.structure[selected], rows.atom[selected]))
    if np.isnan(positions.astype(float)).any():
        raise ValueError("some selected environments have no atom in the dataset's atom table")
    return positions.astype(np.int64)


def _check_states(dataset_state: dict | None, features_state: dict | None) -> None:
    if not dataset_state or not features_state:
        raise ValueError("no descriptors yet: wait for the map to be drawn")
    if features_state.get("dataset") != dataset_state.get("id"):
        raise ValueError("the descriptors of this dataset are still being computed: wait for the map")


def _unique_name(name: str, taken: set[str], suffix: str = "_map") -> str:
    out = name
    while out in taken:
        out += suffix
    taken.add(out)
    return out


def _column_name(text: str) -> str:
    """A property name every format accepts (extended XYZ needs no spaces or ':')."""
    return re.sub(r"[^A-Za-z0-9_\-\[\]]+", "_", str(text)).strip("_") or "value"


def map_description(map_state: dict | None, features_state: dict, component: int) -> str:
    """What a map coordinate is, for a chemiscope property description: the method, its mixing
    and target, and the descriptor with its hyperparameters."""
    from compute import maps

    if not map_state:
        return "map coordinate"
    method = maps.METHODS.get(map_state.get("method"), map_state.get("method") or "map")
    text = f"component {component + 1} of {method}"
    details = []
    if map_state.get("method") in maps.SUPERVISED and map_state.get("mixing") is not None:
        details.append(f"mixing {float(map_state['mixing']):g}")
    if map_state.get("target"):
        details.append(f"target {str(map_state['target']).partition(':')[2] or map_state['target']}")
    if details:
        text += f" ({', '.join(details)})"
    hypers = features_state.get("hypers") or {}
    per = "environment" if features_state.get("per") == "atom" else "structure"
    if hypers:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(hypers.items()))
        text += f" of SOAP features per {per} ({shown})"
    else:
        text += f" of the file's features per {per}"
    return text


def _view(map_state: dict | None, coords: dict, view: dict | None, color: str | None) -> dict:
    """The app's view as :func:`compute.export.to_chemiscope`'s ``view``: axes (a component is
    its exported column, a property its name), 2D or 3D, colour, log scale, size, palette."""
    view = view or {}
    names = list(coords)

    def axis(value, default: int):
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            return names[int(value)] if 0 <= int(value) < len(names) else None
        if isinstance(value, str) and ":" in value and not value.startswith("map:"):
            return value.partition(":")[2]
        return names[default] if default < len(names) else None

    dims = 3 if str(view.get("dims", 2)) == "3" else 2
    x, y = axis(view.get("x", 0), 0), axis(view.get("y", 1), 1)
    z = axis(view.get("z", 2), 2) if dims == 3 else ""
    if x is None or y is None or x == y or (z and z in (x, y)):  # as the map falls back: first components
        x, y, z = names[0], names[1], (names[2] if dims == 3 and len(names) > 2 else "")
    out = {"x": x, "y": y, "z": z or "", "palette": "viridis"}  # the app's colour scale (figures.style)
    if color:
        out["color"] = color
        out["log_color"] = "log" in (view.get("log") or [])
    size = view.get("size")
    if isinstance(size, str) and ":" in size and not size.startswith("map:"):
        out["size"] = size.partition(":")[2]
    return out


def _map_columns(store: Store, map_state: dict | None, features_state: dict, selected: np.ndarray, taken: set[str]) -> dict[str, np.ndarray]:
    """Map coordinates of the selected rows, named by their axis titles (``PC1``, ...)."""
    if not map_state or map_state.get("features") != features_state["key"]:
        return {}
    coordinates = store.load_arrays(map_state["coords"])["coordinates"]
    titles = list(map_state.get("axis_titles") or [])
    out = {}
    for k in range(coordinates.shape[1]):
        title = titles[k] if k < len(titles) else f"map{k + 1}"
        out[_unique_name(_column_name(title), taken)] = coordinates[selected, k].astype(np.float64)
    return out


def _model_columns(store: Store, features_state: dict, selected: np.ndarray, n_rows: int, prediction_state, cluster_state, taken: set[str]):
    """Predictions and errors (when computed for these features), cluster labels (when there are
    some for these rows): ``({name: values}, {colour choice: name})``."""
    out, names = {}, {}
    if prediction_state and prediction_state.get("features") == features_state["key"]:
        try:
            arrays = store.load_arrays(prediction_state["key"])
        except UnknownIdError:
            arrays = None
        if arrays is not None and len(arrays["predicted"]) == n_rows and arrays["predicted"].ndim == 2:
            # a vector or tensor: one column per component, named after the property's own
            # (dipole[1..3] -> predicted_dipole[1..3], written back as one vector; axx.. -> predicted_axx..)
            choice = str(prediction_state["target"])
            source = choice.partition(":")[0]
            dataset = store.dataset(features_state["dataset"])
            table = dataset.structure_properties if source == "structure" else dataset.atom_properties
            components = shape_groups(numeric_columns(table, table.columns)).get(choice_name(choice))
            if components is not None and len(components) == arrays["predicted"].shape[1]:
                error = arrays["predicted"] - arrays["target"]
                # the map's colours for this target: the lengths of the prediction and of its error
                name = _column_name(choice_name(choice))
                names[PREDICTED] = _unique_name(f"predicted_norm_{name}", taken)
                out[names[PREDICTED]] = np.linalg.norm(arrays["predicted"][selected], axis=1)
                names[ERROR] = names[ABS_ERROR] = _unique_name(f"error_norm_{name}", taken)
                out[names[ERROR]] = np.linalg.norm(error[selected], axis=1)
                for k, component in enumerate(components):
                    out[_unique_name(f"predicted_{component}", taken)] = arrays["predicted"][selected, k].astype(np.float64)
                for k, component in enumerate(components):
                    out[_unique_name(f"error_{component}", taken)] = error[selected, k].astype(np.float64)
        elif arrays is not None and len(arrays["predicted"]) == n_rows:
            target = _column_name(str(prediction_state.get("target") or "target").partition(":")[2] or "target")
            names[PREDICTED] = _unique_name(f"predicted_{target}", taken)
            out[names[PREDICTED]] = arrays["predicted"][selected].astype(np.float64)
            names[ERROR] = _unique_name(f"error_{target}", taken)
            out[names[ERROR]] = (arrays["predicted"] - arrays["target"])[selected].astype(np.float64)
    if cluster_state and cluster_state.get("key") and cluster_state.get("features", features_state["key"]) == features_state["key"]:
        try:
            labels = store.load_arrays(cluster_state["key"]).get("labels")
        except UnknownIdError:
            labels = None
        if labels is not None and len(labels) == n_rows:
            names[CLUSTER] = _unique_name("cluster", taken)
            out[names[CLUSTER]] = np.asarray(labels)[selected]
    return out, names


def _property_names(dataset, per: str) -> set[str]:
    names = {str(c) for c in dataset.structure_properties.columns}
    if per == "atom":
        names |= {str(c) for c in dataset.atom_properties.columns}
    return names


def export_selection(store: Store, dataset_state: dict, features_state: dict, map_state: dict | None, selection: dict | None,
                     fmt: str, color_by: str | None = None, prediction_state: dict | None = None,
                     cluster_state: dict | None = None, view: dict | None = None) -> tuple[bytes, str]:
    """The selected rows as a file in format ``fmt``: ``(content, file name)``.

    ``extxyz``: the selected structures (per atom: the structures holding the selected centres,
    flagged ``selected``) with their properties, map coordinates, predictions and cluster labels,
    and ``source_index`` (per structure); ``ase-db`` the same as an ASE SQLite database. ``csv``: index, map coordinates, predictions/errors,
    cluster labels, properties. ``npz``: the feature rows with feature names (and map
    coordinates). ``chemiscope``: map coordinates as properties, coloured by ``color_by``;
    environments with the SOAP cutoff per atom. ValueError (a message for the user) when nothing
    is selected or the format does not apply (a features table has no structures).
    """
    suffixes = {value: suffix for value, _, suffix in FORMATS}
    if fmt not in suffixes:
        raise ValueError(f"unknown export format {fmt!r}: choose one of {', '.join(suffixes)}")
    _check_states(dataset_state, features_state)
    dataset = store.dataset(dataset_state["id"])
    rows = map_rows(dataset, features_state["per"])
    selected = selected_rows(selection, len(rows))
    indices = writer_indices(dataset, rows, selected)
    per = rows.per
    filename = f"{safe_stem(dataset.name)}-selection{suffixes[fmt]}"

    taken = _property_names(dataset, per) | {"index", "structure", "atom", "selected", "source_index", "environment"}
    coords = _map_columns(store, map_state, features_state, selected, taken)
    model, model_names = _model_columns(store, features_state, selected, len(rows), prediction_state, cluster_state, taken)

    if fmt == "extxyz":
        extra = {**coords, **model}
        if per == "structure":
            extra = {"source_index": selected, **extra}
        data = export.to_extxyz(dataset, indices, per=per, extra_properties=extra)
    elif fmt == "csv":
        columns = {"environment": selected} if per == "atom" else {}
        data = export.to_csv(dataset, indices, columns={**columns, **coords, **model}, per=per)
    elif fmt == "ase-db":  # (the writer records each structure's source_index itself)
        data = export.to_ase_db(dataset, indices, per=per, extra_properties={**coords, **model})
    elif fmt == "npz":
        features, names = load_features(store, features_state)
        extra = {**coords, **model}
        extra.update(_npz_layout(dataset, rows, selected, features_state))
        data = export.to_npz(features, names, selected, extra=extra)
    else:
        if not coords:
            raise ValueError("a chemiscope file needs the map: wait until it is drawn")
        if len(coords) == 1:  # a one-component map (two structures): chemiscope needs an y axis
            coords = {**coords, "zero": np.zeros(len(selected))}
        properties = dict(model)
        if CLUSTER in model_names:  # labels as text: chemiscope treats them as categories
            properties[model_names[CLUSTER]] = model[model_names[CLUSTER]].astype(str)
        color = _color_name(color_by, model_names, set(coords) | set(properties) | _property_names(dataset, per))
        environments = {"cutoff": float((features_state.get("hypers") or {}).get("cutoff", export.DEFAULT_CUTOFF))} if per == "atom" else None
        described = {
            name: {"values": values, "description": map_description(map_state, features_state, k) if name != "zero" else "zero (one-component map)"}
            for k, (name, values) in enumerate(coords.items())
        }
        data = export.to_chemiscope(dataset, indices, map_coordinates=described, properties=properties, environments=environments,
                                    color=color, view=_view(map_state, coords, view, color))
    return data, filename


def _npz_layout(dataset, rows: Rows, selected: np.ndarray, features_state: dict) -> dict:
    """The layout ``structure-explorer featurize`` writes: row index (``structure``; per atom also
    ``atom`` and ``center_type``), the rows' properties, and for SOAP features the integer
    labels of each column and every hyperparameter (``hypers``; ``soap_hypers`` kept for older
    readers)."""
    from compute.descriptors import make_descriptor
    from compute.formats.npz import descriptor_arrays

    out: dict = {"structure": rows.structure[selected]}
    if rows.per == "atom":
        out["atom"] = rows.atom[selected]
        if dataset.structures is not None:
            out["center_type"] = np.array([dataset.structures[int(s)].numbers[int(a)] for s, a in zip(out["structure"], out["atom"])],
                                          dtype=np.int64)
        table = dataset.atom_properties.drop(columns=["structure", "atom"], errors="ignore")
        positions = writer_indices(dataset, rows, selected) if dataset.structures is not None else None
        source = table.iloc[positions] if positions is not None else None
    else:
        source = dataset.structure_properties.iloc[selected]
    if source is not None:
        for c in source.columns:
            name = str(c)
            if name in out or name in ("features", "feature_names", "index", "hypers", "soap_hypers"):
                continue
            col = source[c]
            out[name] = col.to_numpy(dtype=np.float64, na_value=np.nan) if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) \
                else np.array(col.astype("string").fillna("").tolist(), dtype=str)
    hypers = features_state.get("hypers")
    if hypers and dataset.structures is not None:
        descriptor = features_state.get("descriptor", "soap")
        calculator = make_descriptor(descriptor, **hypers)
        species = calculator.species_for(dataset.structures)
        spectrum = {"soap": "power", "radial": "radial"}.get(descriptor)
        if spectrum:
            out.update(descriptor_arrays(calculator, species, spectrum=spectrum, per=rows.per, source=dataset.name,
                                         content_hash=dataset.content_hash))
        else:  # no integer labels for this descriptor's columns: its names say them
            out["hypers"] = json.dumps(dict(hypers, per=rows.per, spectrum=descriptor, species=[int(z) for z in species],
                                            source=dataset.name, content_hash=dataset.content_hash), sort_keys=True)
        out["soap_hypers"] = json.dumps(hypers, sort_keys=True)
    return out


def _color_name(color_by: str | None, model_names: dict, available: set[str]) -> str | None:
    """The exported property that carries the map's colour, or None (uniform)."""
    if not color_by:
        return None
    name = model_names.get(color_by) if color_by.startswith("map:") else color_by.partition(":")[2]
    return name if name in available else None


#: most rows "N most diverse" may pick (its cost grows with n × rows)
MAX_FPS_ROWS = 10_000
#: most features one selection may pick, per method (CUR does an SVD per pick)
MAX_SELECTED_FEATURES = {"fps": 1_000, "cur": 300}


def select_diverse(store: Store, features_state: dict, n) -> dict:
    """The ``n`` most diverse rows by farthest point sampling on the features (first row first):
    the new selection state ``{"rows": [...], "source": "fps"}`` in selection order."""
    if not features_state:
        raise ValueError("no descriptors yet: wait for the map to be drawn")
    features, _ = load_features(store, features_state)
    n_rows = features.shape[0]
    n = _count(n, min(n_rows, MAX_FPS_ROWS), "rows to select")
    if n_rows < 2:
        raise ValueError("FPS needs at least two rows")
    picked = fps_indices(features, n)  # scikit-matter's FPS (first row first), Numba with pruning
    return {"rows": [int(i) for i in picked], "source": "fps"}


def _count(n, limit: int, what: str) -> int:
    try:
        value = float(n)
    except (TypeError, ValueError):
        raise ValueError(f"number of {what}: enter a whole number from 1 to {limit}") from None
    if not np.isfinite(value) or value != int(value) or not 1 <= value <= limit:
        raise ValueError(f"number of {what}: enter a whole number from 1 to {limit} (got {n})")
    return int(value)


def select_features(features: np.ndarray, n: int, method: str) -> np.ndarray:
    """Column indices of ``n`` features chosen by FPS or CUR (fitted on at most
    :data:`MAX_FIT_ROWS` evenly spaced rows), in selection order."""
    if method not in dict(FEATURE_METHODS):
        raise ValueError(f"unknown feature selection {method!r}: choose FPS or CUR")
    n = _count(n, min(features.shape[1], MAX_SELECTED_FEATURES[method]), "features")
    if features.shape[0] < 2 or features.shape[1] < 2:
        raise ValueError("selecting features needs at least two rows and two features")
    X = features
    if X.shape[0] > MAX_FIT_ROWS:
        X = X[np.linspace(0, X.shape[0] - 1, MAX_FIT_ROWS).astype(np.int64)]
    selector = FPS(n_to_select=n, axis="features") if method == "fps" else CUR(n_to_select=n, axis="features")
    return selector.fit(X).selected_idx_


def export_features(store: Store, features_state: dict, selection: dict | None, n, method: str,
                    dataset_name: str | None = None) -> tuple[bytes, str]:
    """``n`` feature columns chosen by FPS or CUR, for the selected rows (every row when nothing is
    selected), as NPZ with their names: ``(content, file name)``."""
    if not features_state:
        raise ValueError("no descriptors yet: wait for the map to be drawn")
    features, names = load_features(store, features_state)
    n_rows = features.shape[0]
    if (selection or {}).get("rows"):
        rows = selected_rows(selection, n_rows)
        columns = select_features(features[rows], n, method)
    else:
        rows = np.arange(n_rows)
        columns = select_features(features, n, method)  # no fancy-index copy of the whole matrix
    extra = {}
    if features_state.get("hypers"):
        extra["soap_hypers"] = json.dumps(features_state["hypers"], sort_keys=True)
    data = export.to_npz(features[:, columns], [names[c] for c in columns], rows, extra=extra)
    if dataset_name is None:
        dataset_name = store.dataset_name(features_state["dataset"])
    return data, f"{safe_stem(dataset_name)}-features-{method}-{len(columns)}.npz"


def _download(data: bytes, filename: str) -> dict:
    return dcc.send_bytes(data, filename)


# -- callbacks -------------------------------------------------------------------------------------


# counted in the browser the moment the selection changes (assets/map_interaction.js)
callbacks.clientside(
    "function(selection, features) { return window.dash_clientside.explorer_map.selection_summary(selection, features, %s); }"
    % json.dumps(NOTHING_SELECTED_SENTENCE),
    Output("export-selection-summary", "children"),
    Input(state.SELECTION, "data"),
    Input(state.FEATURES, "data"),
)


@callbacks.server(
    Output(state.SELECTION, "data", allow_duplicate=True),
    Input("export-clear-selection", "n_clicks"),
    prevent_initial_call=True,
)
def on_clear(_clicks):
    return {"rows": [], "source": None}


@callbacks.server(
    Output(state.SELECTION, "data", allow_duplicate=True),
    Output("export-context", "data"),
    Input(state.FEATURES, "data"),
    State("export-context", "data"),
    State(state.SELECTION, "data"),
    prevent_initial_call=True,
)
def on_rows_changed(features_state, context, selection):
    """A new dataset or mode changes what the rows are: the old selection no longer applies."""
    if not features_state:
        return no_update, no_update
    current = {"dataset": features_state.get("dataset"), "per": features_state.get("per")}
    if current == context:
        return no_update, no_update
    if context is None or not (selection or {}).get("rows"):
        return no_update, current
    return {"rows": [], "source": None}, current


# FPS runs parallel Numba code: a job, never in the web process (see explorer.jobs)
@callbacks.server(
    Output(state.SELECTION, "data", allow_duplicate=True),
    Input("export-fps-run", "n_clicks"),
    State("export-fps-count", "value"),
    State(state.FEATURES, "data"),
    background=True,
    interval=250,
    **run_and_cancel(callbacks, "export-fps-run", "export-fps-cancel", "FPS selection cancelled: the selection stays as it was."),
    prevent_initial_call=True,
    on_error=failure_handler("FPS selection", outputs=1),
)
def on_select_diverse(_clicks, n, features_state):
    try:
        selection = select_diverse(state.current_store(), features_state, n)
    except (ValueError, UnknownIdError) as error:
        messages.say(messages.error(f"FPS selection not made: {error}"))
        return no_update
    messages.say(f"Selected the {len(selection['rows']):,} most diverse {_kind(features_state, len(selection['rows']))} (FPS).")
    return selection


@callbacks.server(
    Output("export-download", "data"),
    Input("export-selection", "n_clicks"),
    State("export-format", "value"),
    State(state.DATASET, "data"),
    State(state.FEATURES, "data"),
    State(state.MAP, "data"),
    State(state.SELECTION, "data"),
    State("color-by", "value"),
    State(state.PREDICTIONS, "data"),
    State(state.CLUSTERS, "data"),
    State("map-dims", "value"),
    State("map-x", "value"),
    State("map-y", "value"),
    State("map-z", "value"),
    State("map-color-log", "value"),
    State("map-size-by", "value"),
    prevent_initial_call=True,
)
def on_export(_clicks, fmt, dataset_state, features_state, map_state, selection, color_by, prediction_state, cluster_state,
              dims=2, x=0, y=1, z=2, log=None, size_by=None):
    view = {"dims": dims, "x": x, "y": y, "z": z, "log": log, "size": size_by}
    try:
        data, filename = export_selection(state.current_store(), dataset_state, features_state, map_state, selection,
                                          fmt or FORMATS[0][0], color_by, prediction_state, cluster_state, view)
    except (ValueError, DatasetError, UnknownIdError) as error:
        messages.say(messages.error(f"Nothing exported: {error}"))
        return no_update
    n = len((selection or {}).get("rows") or [])
    messages.say(f"Exported {n:,} {_kind(features_state, n)} to {filename}.")
    return _download(data, filename)


@callbacks.server(
    Output("export-features-download", "data"),
    Input("export-features", "n_clicks"),
    State("export-feature-count", "value"),
    State("export-feature-method", "value"),
    State(state.FEATURES, "data"),
    State(state.SELECTION, "data"),
    background=True,
    interval=250,
    **run_and_cancel(callbacks, "export-features", "export-features-cancel", "Feature export cancelled: nothing was exported."),
    prevent_initial_call=True,
    on_error=failure_handler("Selecting features", outputs=1),
)
def on_export_features(_clicks, n, method, features_state, selection):
    try:
        data, filename = export_features(state.current_store(), features_state, selection, n, method or "fps")
    except (ValueError, DatasetError, UnknownIdError) as error:
        messages.say(messages.error(f"Features not exported: {error}"))
        return no_update
    messages.say(f"Exported {n} feature columns ({(method or 'fps').upper()}) to {filename}.")
    return _download(data, filename)
