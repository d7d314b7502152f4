"""The structure behind a map point: a 3D view and the structure's properties.

What is shown (``viewer-state``: ``{"row", "dataset", "per"}``, a map row) follows a click on a
map point, a click on a row of the property table, and the arrow keys (``viewer-step``, written
by ``assets/map_interaction.js``: left/right step to the previous/next row, i.e. the next atom in
per-atom mode; up/down to the previous/next structure). A new dataset clears it. The map rings
the point shown.

The container ``structure-viewer`` carries ``data-structure-index`` and ``data-atom-count`` of
what it shows (the contract scripts and tests read); it is rebuilt whole inside the wrapper.
"""

from __future__ import annotations

import numpy as np
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from compute import budget

from .. import figures, state
from ..rows import Rows, map_rows, property_columns
from ..store import Store, UnknownIdError


def layout() -> html.Div:
    return html.Div(
        [
            html.H4("Structure"),
            html.Label(["colour atoms by", dcc.Dropdown(id="atom-color-by", options=[], value=None, placeholder="(element)")], className="field"),
            html.Div(placeholder(), id="structure-viewer-wrapper"),
            dcc.Store(id="viewer-state"),
            dcc.Store(id="viewer-step"),
        ],
        className="panel viewer-panel",
    )


def placeholder() -> html.Div:
    return viewer_container(None, None, html.P("Click a point of the map (or a row of the table) to see its structure; "
                                                "arrow keys step to the next one.", className="hint"))


def viewer_container(structure: int | None, n_atoms: int | None, children) -> html.Div:
    attributes = {
        "data-structure-index": "" if structure is None else str(structure),
        "data-atom-count": "" if n_atoms is None else str(n_atoms),
    }
    return html.Div(children, id="structure-viewer", className="structure-viewer", **attributes)


def _value_text(value) -> str:
    if isinstance(value, (float, np.floating)):
        return "" if not np.isfinite(value) else f"{value:.6g}"
    return "" if value is None else str(value)


def structure_view(store: Store, dataset_id: str, per: str, row: int, cutoff: float | None, atom_color_by: str | None) -> html.Div:
    """The viewer's content for map row ``row`` (a structure, or an environment in per-atom mode)."""
    dataset = store.dataset(dataset_id)
    if dataset.structures is None:
        return viewer_container(None, None, html.P("This dataset is a features table: it has no structures to show.", className="hint"))
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
        return viewer_container(structure, len(atoms), html.P(f"Not drawn: {refusal}.", className="hint"))

    atom_color = None
    if atom_color_by and atom_color_by in dataset.atom_properties.columns:
        table = dataset.atom_properties
        mine = table[table["structure"] == structure].sort_values("atom")
        column = mine[atom_color_by]
        if len(mine) == len(atoms) and np.issubdtype(column.dtype, np.number):
            atom_color = column.to_numpy(dtype=float)

    title = f"#{structure} {atoms.get_chemical_formula()}" + (f" · centre atom {center}" if center is not None else "")
    figure = figures.structure_figure(atoms, center=center, cutoff=cutoff if center is not None else None,
                                      atom_color=atom_color, atom_color_name=atom_color_by or "", title=title)
    table_all = dataset.structure_properties
    properties = table_all[property_columns(table_all)].iloc[structure]  # no reader bookkeeping
    table = html.Table(
        html.Tbody([html.Tr([html.Th(str(name)), html.Td(_value_text(value))]) for name, value in properties.items()]),
        className="structure-properties",
    )
    return viewer_container(structure, len(atoms), [
        dcc.Graph(figure=figure, className="structure-graph", config=figures.GRAPH_CONFIG),
        table,
    ])


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


@callback(
    Output("viewer-state", "data"),
    Input("property-table", "cellClicked"),
    Input("viewer-step", "data"),
    Input(state.DATASET, "data"),
    State("viewer-state", "data"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)
def on_show(cell, step, dataset_state, viewer_state, map_state):
    """What the viewer shows: a clicked table row, an arrow key's step; nothing after a new
    dataset. (A clicked map or parity point is handled in the browser: ``show_clicked``.)"""
    trigger = ctx.triggered_id
    if trigger == state.DATASET:
        if viewer_state and dataset_state and viewer_state.get("dataset") == dataset_state.get("id"):
            return no_update
        return None
    if not map_state:
        return no_update
    here = {"dataset": map_state["dataset"], "per": map_state["per"]}
    try:
        rows = map_rows(state.current_store().dataset(map_state["dataset"]), map_state["per"])
        if trigger == "property-table":
            structure = int((cell or {}).get("rowId"))
            return {"row": first_row_of_structure(rows, structure), **here}
        if trigger == "viewer-step" and step:
            return {"row": follow_steps(rows, step), **here}
    except (UnknownIdError, IndexError, TypeError, ValueError):
        return no_update
    return no_update


# a clicked map or parity point: its row, set in the browser (one server round trip less)
clientside_callback(
    ClientsideFunction(namespace="explorer_map", function_name="show_clicked"),
    Output("viewer-state", "data", allow_duplicate=True),
    Input("map-graph", "clickData"),
    Input("parity-graph", "clickData"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)


@callback(
    Output("structure-viewer-wrapper", "children"),
    Input("viewer-state", "data"),
    Input("atom-color-by", "value"),
    State(state.FEATURES, "data"),
)
def on_view(viewer_state, atom_color_by, features_state):
    if not viewer_state:
        return placeholder()
    cutoff = (features_state or {}).get("hypers", {}).get("cutoff")
    try:
        return structure_view(state.current_store(), viewer_state["dataset"], viewer_state["per"], viewer_state["row"], cutoff, atom_color_by)
    except (UnknownIdError, IndexError, KeyError) as error:
        return viewer_container(None, None, html.P(f"Cannot show this point: {error}", className="hint"))


@callback(
    Output("atom-color-by", "options"),
    Input(state.DATASET, "data"),
)
def on_atom_options(dataset_state):
    try:
        dataset = state.current_store().dataset(dataset_state["id"])
    except (UnknownIdError, TypeError, KeyError):
        return []
    return [{"label": str(c), "value": str(c)} for c in dataset.atom_properties.columns
            if c not in ("structure", "atom") and np.issubdtype(dataset.atom_properties[c].dtype, np.number)]
