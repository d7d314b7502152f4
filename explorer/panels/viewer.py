"""The structure behind a map point: a 3D view and the structure's properties.

What is shown (``viewer-state``: ``{"row", "dataset", "per"}``, a map row) follows a click on a
map point, a click on a row of the property table, and the arrow keys (``viewer-step``, written
by ``assets/map_interaction.js``: left/right step to the previous/next row, i.e. the next atom in
per-atom mode; up/down to the previous/next structure). A new dataset clears it. The map rings
the point shown.

The drawing is chemiscope's structure viewer in the browser (``explorer.viewer_component``,
``assets/structure_viewer.js``): for a click the server sends only the structure's arrays (and its
trajectory's, its per-atom properties and shapes) in ``viewer-payload``; styles, labels, colours,
unit cell, supercell, wrapping, playback and pinned viewers are the browser's.

The container ``structure-viewer`` carries ``data-structure-index`` and ``data-atom-count`` (and
``data-atom-index`` in per-atom mode) of what it shows (the contract scripts and tests read).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from compute import budget

from .. import state, viewer_component
from ..rows import Rows, choice_name, is_tensor_choice, map_rows, property_columns
from ..store import Store, UnknownIdError

from ._callbacks import Callbacks

callbacks = Callbacks()


def register(app) -> None:
    """The viewer's callbacks, and the route serving chemiscope's built viewer, on ``app``."""
    callbacks.register(app)
    viewer_component.install(app.server)


#: the canvas's style with and without a structure
SHOWN = {"display": "grid"}  # the viewers side by side (assets/style.css)
HIDDEN = {"display": "none"}
HINT = "Click a point of the map (or a row of the table) to see its structure; arrow keys step to the next one."
STYLES = [("ball and stick", "ball-and-stick"), ("space filling", "space-filling"), ("licorice", "licorice")]
#: in the label of a model's predicted shape (``viewer_component.predicted_shape``)
PREDICTED = " predicted ("
BASE_LABELS = [{"label": "no labels", "value": "none"}, {"label": "element", "value": "element"},
               {"label": "atom index", "value": "index"}]


def _number(id_, value, **kwargs):
    return dcc.Input(id=id_, type="number", value=value, className="number-input", debounce=True, **kwargs)


def layout() -> html.Div:
    controls = html.Div(
        [
            html.Div(
                [
                    html.Label(["style", dcc.Dropdown(id="viewer-style", options=[{"label": k, "value": v} for k, v in STYLES],
                                                      value="ball-and-stick", clearable=False)], className="field"),
                    html.Label(["labels", dcc.Dropdown(id="viewer-labels", options=BASE_LABELS, value="none", clearable=False)],
                               className="field"),
                ],
                className="field-grid",
            ),
            html.Label(["colour atoms by", dcc.Dropdown(id="viewer-atom-color-by", options=[], value=None, placeholder="(element)")],
                       className="field"),
            html.Div(
                [
                    html.Label(["colour range from", _number("viewer-color-min", None, placeholder="auto")], className="field"),
                    html.Label(["to", _number("viewer-color-max", None, placeholder="auto")], className="field"),
                ],
                className="field-grid",
            ),
            dcc.Checklist(id="viewer-options", className="viewer-options", inline=True, value=["cell"],
                          options=[{"label": "unit cell", "value": "cell"}, {"label": "wrap into the cell", "value": "wrap"},
                                   {"label": "environment only", "value": "environment"}]),
            html.Div(
                [
                    html.Span("supercell", className="viewer-inline-label"),
                    _number("viewer-supercell-a", 1, min=1, max=5, step=1, name="supercell-a"),
                    _number("viewer-supercell-b", 1, min=1, max=5, step=1, name="supercell-b"),
                    _number("viewer-supercell-c", 1, min=1, max=5, step=1, name="supercell-c"),
                ],
                className="viewer-supercell",
            ),
            html.Div(
                [
                    dcc.Checklist(id="viewer-shapes", options=[], value=[], className="viewer-shapes"),
                    # step "any": with step 0.1 from min 0.05 a typed 2.5 was an invalid value, silently dropped
                    html.Label(["shape scale", _number("viewer-shape-scale", 1.0, min=0.05, max=20, step="any")],
                               className="field viewer-shape-scale"),
                    # a model's predicted arrow or ellipsoid: in a view of its own beside the
                    # reference's (the two turn together), or drawn over it
                    html.Div(
                        [html.Span("prediction", className="viewer-inline-label"),
                         dcc.RadioItems(id="viewer-predicted-layout", value="beside", inline=True,
                                        options=[{"label": "beside the reference", "value": "beside"},
                                                 {"label": "over it", "value": "overlay"}])],
                        id="viewer-predicted-controls", className="viewer-predicted-controls", style=HIDDEN,
                    ),
                ],
                id="viewer-shape-controls", className="viewer-shape-controls", style=HIDDEN,
            ),
            html.Div(
                [
                    html.Button("Reset view", id="viewer-reset", className="button", title="Fit the structure in the view"),
                    html.Button("PNG", id="viewer-png", className="button", title="Download the active view as a PNG image"),
                    html.Button("Add viewer", id="viewer-add", className="button",
                                title="Pin a copy of this view; the active (framed) viewer follows clicks on the map"),
                ],
                className="button-row",
            ),
        ],
        className="viewer-controls",
    )
    return html.Div(
        [
            html.H4("Structure"),
            controls,
            html.Div(
                [
                    # drawn in by assets/structure_viewer.js (never a Dash output: React leaves it alone)
                    html.Div(id="viewer-canvas", className="viewer-canvas empty", style=HIDDEN),
                    html.Div(id="viewer-playback", className="viewer-playback", style={"display": "none"}),
                    html.Div(html.P(HINT, className="hint"), id="viewer-details"),
                ],
                id="structure-viewer", className="structure-viewer",
                **{"data-structure-index": "", "data-atom-count": "", "data-atom-index": ""},
            ),
            dcc.Store(id="viewer-state"),
            dcc.Store(id="viewer-step"),
            dcc.Store(id="viewer-payload"),
        ],
        className="panel viewer-panel",
    )


class StructureView(NamedTuple):
    """What the viewer shows: the structure (its index and atom count; None when nothing is
    drawn), what the browser draws (:func:`explorer.viewer_component.viewer_payload`; None: no
    drawing), what goes under it (properties, or a message) and, in per-atom mode, the centre atom."""

    structure: int | None
    n_atoms: int | None
    payload: dict | None
    details: Any
    atom: int | None = None

    def outputs(self) -> tuple:
        """Values of on_view's first outputs: payload, canvas style, details, and the container's
        ``data-structure-index`` / ``data-atom-count`` (the contract scripts and tests read)."""
        shown = self.payload is not None
        return (
            self.payload if shown else None,
            SHOWN if shown else HIDDEN,
            self.details,
            "" if self.structure is None else str(self.structure),
            "" if self.n_atoms is None else str(self.n_atoms),
        )


def message(text: str, structure: int | None = None, n_atoms: int | None = None) -> StructureView:
    return StructureView(structure, n_atoms, None, html.P(text, className="hint"))


def _value_text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.6g}"
    return "" if value is None else str(value)


def _table(title: str, items) -> html.Table:
    rows = [html.Tr([html.Th(str(name)), html.Td(_value_text(value))]) for name, value in items]
    return html.Table([html.Caption(title), html.Tbody(rows)], className="structure-properties")


def predicted_shapes(store: Store, dataset, rows: Rows, structure: int, prediction_state: dict | None) -> dict | None:
    """The model's predictions of a whole vector or tensor for the structures shown with
    ``structure`` (its trajectory), as ``viewer_component.viewer_payload`` takes them; None when
    the map's predictions are of a scalar, or of other rows."""
    if not prediction_state or not is_tensor_choice(prediction_state.get("target")):
        return None
    try:
        predicted = store.load_arrays(prediction_state["key"])["predicted"]
    except (UnknownIdError, KeyError):
        return None
    if predicted.ndim != 2 or len(predicted) != len(rows):
        return None
    level = "atom" if prediction_state["target"].startswith("atom:") else "structure"
    values = {}
    for s in viewer_component.trajectory_frames(dataset.structures, structure):
        mine = np.flatnonzero(rows.structure == s)
        if not mine.size:
            continue
        if level == "structure":  # per-atom rows of a structure property all hold its prediction
            values[int(s)] = predicted[mine[:1]]
        elif rows.atom is not None:
            values[int(s)] = predicted[mine[np.argsort(rows.atom[mine])]]
    return {"name": choice_name(prediction_state["target"]), "level": level, "values": values}


def structure_view(store: Store, dataset_id: str, per: str, row: int, cutoff: float | None,
                   atom_color_by: str | None = None, prediction_state: dict | None = None) -> StructureView:
    """The viewer's content for map row ``row`` (a structure, or an environment in per-atom mode).
    ``atom_color_by`` is kept for callers of the former server-drawn figure: colours are the
    browser's now. With ``prediction_state`` of a vector or tensor for these rows, the predicted
    arrow or ellipsoid is offered beside the reference one."""
    dataset = store.dataset(dataset_id)
    if dataset.structures is None:
        return message("This dataset is a features table: it has no structures to show.")
    rows = map_rows(dataset, per)
    if not 0 <= row < len(rows):
        raise IndexError(f"row {row} is not on the map ({len(rows)} rows)")
    structure = int(rows.structure[row])
    center = int(rows.atom[row]) if rows.atom is not None else None
    atoms = dataset.structures[structure]
    limits = budget.current()
    if len(atoms) > limits.max_viewer_atoms:
        # drawing (spheres, bonds) takes time and memory in proportion: refused, with the way out
        refusal = limits.refuse("max_viewer_atoms", f"structure {structure}'s atom count", len(atoms))
        return message(f"Not drawn: {refusal}.", structure, len(atoms))

    symbol = atoms.get_chemical_symbols()[center] if center is not None else None
    title = f"#{structure} {atoms.get_chemical_formula()}" + (f" · centre atom {center} ({symbol})" if center is not None else "")
    payload = viewer_component.viewer_payload(dataset, rows, row, cutoff=cutoff, title=title,
                                              predictions=predicted_shapes(store, dataset, rows, structure, prediction_state))
    payload["dataset"] = dataset_id
    payload["max_atoms"] = int(limits.max_viewer_atoms)  # supercells are bounded by it too (in the browser)

    table_all = dataset.structure_properties
    properties = table_all[property_columns(table_all)].iloc[structure]  # no reader bookkeeping
    details = [_table(f"structure {structure} · {atoms.get_chemical_formula()}", properties.items())]
    if center is not None:
        items = [("element", symbol), ("index", center)]
        table = dataset.atom_properties
        mine = table[(table["structure"] == structure) & (table["atom"] == center)]
        if len(mine):
            items += [(c, mine.iloc[0][c]) for c in table.columns if c not in ("structure", "atom")]
        details.insert(0, _table(f"centre atom {center} ({symbol})", items))
    return StructureView(structure, len(atoms), payload, html.Div(details, className="structure-tables"), center)


def step_row(rows: Rows, row: int | None, step: int, level: str) -> int:
    """The map row an arrow key leads to from ``row``: the next/previous row (``level="atom"``;
    per structure that is the next structure), or the first environment of the next/previous
    structure (``level="structure"``). Stays within the map; from nowhere, the first row."""
    n = len(rows)
    if n == 0:
        raise IndexError("the map has no rows")
    if row is None or not 0 <= row < n:
        return 0
    step = 1 if step > 0 else -1
    if level != "structure" or rows.per != "atom":
        return int(min(max(row + step, 0), n - 1))
    structures = rows.structure
    here = structures[row]
    if step > 0:
        later = np.flatnonzero(structures > here)
        return int(later[0]) if later.size else row
    earlier = np.flatnonzero(structures < here)
    if not earlier.size:
        return row
    return int(np.flatnonzero(structures == structures[earlier[-1]])[0])


def follow_steps(rows: Rows, step: dict) -> int:
    """The row after ``step["steps"]`` arrow presses (signed) from ``step["base"]`` (None: from
    nowhere), at ``step["level"]``; at most one pass over the map."""
    row = step.get("base")
    row = int(row) if isinstance(row, (int, float)) else None
    count = int(step.get("steps", 0))
    level = str(step.get("level", "atom"))
    if row is None:
        row, count = step_row(rows, None, 1, level), count - (1 if count > 0 else -1 if count < 0 else 0)
    for _ in range(min(abs(count), len(rows))):
        row = step_row(rows, row, count, level)
    return row


def first_row_of_structure(rows: Rows, structure: int) -> int:
    """The map row of a structure (its first environment in per-atom mode)."""
    where = np.flatnonzero(rows.structure == int(structure))
    if not where.size:
        raise IndexError(f"structure {structure} is not on the map")
    return int(where[0])


@callbacks.server(
    Output("viewer-state", "data"),
    Input("dataset-property-table", "cellClicked"),
    Input("viewer-step", "data"),
    Input(state.DATASET, "data"),
    State("viewer-state", "data"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)
def on_show(cell, step, dataset_state, viewer_state, map_state):
    """What the viewer shows: a clicked table row, an arrow key's step; nothing after a new
    dataset. (A clicked map or parity point is handled in the browser: ``show_clicked``.)"""
    fired = state.triggered()
    if state.DATASET in fired:  # a new dataset wins over a click or a step in the same round
        if viewer_state and dataset_state and viewer_state.get("dataset") == dataset_state.get("id"):
            return no_update
        return None
    if not map_state:
        return no_update
    here = {"dataset": map_state["dataset"], "per": map_state["per"]}
    try:
        rows = map_rows(state.current_store().dataset(map_state["dataset"]), map_state["per"])
        if "dataset-property-table" in fired:
            structure = int((cell or {}).get("rowId"))
            return {"row": first_row_of_structure(rows, structure), **here}
        if "viewer-step" in fired and step:
            return {"row": follow_steps(rows, step), **here}
    except (UnknownIdError, IndexError, TypeError, ValueError):
        return no_update
    return no_update


# a clicked map or parity point: its row, set in the browser (one server round trip less)
callbacks.clientside(
    ClientsideFunction(namespace="explorer_map", function_name="show_clicked"),
    Output("viewer-state", "data", allow_duplicate=True),
    Input("map-graph", "clickData"),
    Input("map-parity-graph", "clickData"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)


@callbacks.server(
    Output("viewer-payload", "data"),
    Output("viewer-canvas", "style"),
    Output("viewer-details", "children"),
    Output("structure-viewer", "data-structure-index"),
    Output("structure-viewer", "data-atom-count"),
    Output("structure-viewer", "data-atom-index"),
    Output("viewer-shapes", "options"),
    Output("viewer-shape-controls", "style"),
    Output("viewer-shapes", "value"),
    Output("viewer-predicted-controls", "style"),
    Input("viewer-state", "data"),
    State(state.FEATURES, "data"),
    State(state.PREDICTIONS, "data"),
    State("viewer-shapes", "value"),
)
def on_view(viewer_state, features_state, prediction_state, chosen):
    if not viewer_state:
        view = message(HINT)
    else:
        cutoff = (features_state or {}).get("hypers", {}).get("cutoff")
        if not (prediction_state and features_state and prediction_state.get("features") == features_state.get("key")):
            prediction_state = None
        try:
            view = structure_view(state.current_store(), viewer_state["dataset"], viewer_state["per"], viewer_state["row"], cutoff,
                                  prediction_state=prediction_state)
        except (UnknownIdError, IndexError, KeyError) as error:
            view = message(f"Cannot show this point: {error}")
    shapes = (view.payload or {}).get("shapes", [])
    predicted = any(PREDICTED in s for s in shapes)
    return (*view.outputs(), "" if view.atom is None else str(view.atom),
            [{"label": s, "value": s} for s in shapes], SHOWN if shapes else HIDDEN, shown_shapes(shapes, chosen),
            {"display": "flex"} if predicted else HIDDEN)


def shown_shapes(shapes: list[str], chosen: list[str] | None) -> list[str]:
    """The shapes ticked after a click: the user's choice where this structure has them; with
    nothing ticked, a model's predicted vector or tensor and its reference, side by side."""
    kept = [s for s in (chosen or []) if s in shapes]
    if kept:
        return kept
    predicted = [s for s in shapes if PREDICTED in s]
    return sorted({*predicted, *(s.replace(PREDICTED, " (") for s in predicted)} & set(shapes))


# the payload is drawn in the browser, with the controls' settings (no server round trip)
callbacks.clientside(
    ClientsideFunction(namespace="explorer_viewer", function_name="show"),
    Output("viewer-canvas", "lang"),
    Input("viewer-payload", "data"),
)
callbacks.clientside(
    ClientsideFunction(namespace="explorer_viewer", function_name="settings"),
    Output("viewer-canvas", "title"),
    Input("viewer-style", "value"),
    Input("viewer-labels", "value"),
    Input("viewer-atom-color-by", "value"),
    Input("viewer-color-min", "value"),
    Input("viewer-color-max", "value"),
    Input("viewer-options", "value"),
    Input("viewer-supercell-a", "value"),
    Input("viewer-supercell-b", "value"),
    Input("viewer-supercell-c", "value"),
    Input("viewer-shapes", "value"),
    Input("viewer-shape-scale", "value"),
    Input("viewer-predicted-layout", "value"),
)


@callbacks.server(
    Output("viewer-atom-color-by", "options"),
    Output("viewer-labels", "options"),
    Input(state.DATASET, "data"),
)
def on_atom_options(dataset_state):
    try:
        dataset = state.current_store().dataset(dataset_state["id"])
    except (UnknownIdError, TypeError, KeyError):
        return [], BASE_LABELS
    names = [str(c) for c in dataset.atom_properties.columns
             if c not in ("structure", "atom") and np.issubdtype(dataset.atom_properties[c].dtype, np.number)]
    options = [{"label": c, "value": c} for c in names]
    return options, BASE_LABELS + options
