"""The structure behind a map point: a 3D view and the structure's properties.

What is shown (``viewer-state``: ``{"row", "dataset", "per"}``, a map row) follows a click on a
map point, a click on a row of the property table, and the arrow keys (``viewer-step``, written
by ``assets/map_interaction.js``: left/right step to the previous/next row, i.e. the next atom in
per-atom mode; up/down to the previous/next structure). A new dataset clears it. The map rings
the point shown.

The container ``structure-viewer`` carries ``data-structure-index`` and ``data-atom-count`` of
what it shows (the contract scripts and tests read); its one graph is kept and redrawn in place.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import plotly.graph_objects as go
from dash import ClientsideFunction, Input, Output, State, dcc, html, no_update

from compute import budget

from .. import figures, state
from ..rows import Rows, map_rows, property_columns
from ..store import Store, UnknownIdError

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it


#: the graph's style with and without a structure (hidden, it keeps its size: its scene stays ready)
SHOWN = {"visibility": "visible"}
HIDDEN = {"visibility": "hidden", "height": "0px"}
HINT = "Click a point of the map (or a row of the table) to see its structure; arrow keys step to the next one."


def layout() -> html.Div:
    return html.Div(
        [
            html.H4("Structure"),
            html.Label(["colour atoms by", dcc.Dropdown(id="atom-color-by", options=[], value=None, placeholder="(element)")], className="field"),
            # one graph for every structure shown: plotly redraws its 3D scene in place instead of
            # building a new one (and a new WebGL context) per click
            html.Div(
                [
                    # an empty 3D scene is drawn, invisibly, as the page opens: the first click then
                    # reuses its WebGL context (~0.4 s less on a software renderer)
                    dcc.Graph(id="structure-graph", figure=figures.empty_scene_figure(), className="structure-graph",
                              config=figures.GRAPH_CONFIG, style=HIDDEN),
                    html.Div(html.P(HINT, className="hint"), id="structure-details"),
                ],
                id="structure-viewer", className="structure-viewer", **{"data-structure-index": "", "data-atom-count": ""},
            ),
            dcc.Store(id="viewer-state"),
            dcc.Store(id="viewer-step"),
        ],
        className="panel viewer-panel",
    )


class StructureView(NamedTuple):
    """What the viewer shows: the structure (its index and atom count; None when nothing is
    drawn), its 3D figure (None: no drawing) and what goes under it (properties, or a message)."""

    structure: int | None
    n_atoms: int | None
    figure: go.Figure | None
    details: Any

    def outputs(self) -> tuple:
        """Values of on_view's outputs: figure, graph style, details, and the container's
        ``data-structure-index`` / ``data-atom-count`` (the contract scripts and tests read)."""
        shown = self.figure is not None
        return (
            self.figure if shown else no_update,
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


def structure_view(store: Store, dataset_id: str, per: str, row: int, cutoff: float | None, atom_color_by: str | None) -> StructureView:
    """The viewer's content for map row ``row`` (a structure, or an environment in per-atom mode)."""
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
    return StructureView(structure, len(atoms), figure, table)


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
        if "property-table" in fired:
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
    Input("parity-graph", "clickData"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)


@callbacks.server(
    Output("structure-graph", "figure"),
    Output("structure-graph", "style"),
    Output("structure-details", "children"),
    Output("structure-viewer", "data-structure-index"),
    Output("structure-viewer", "data-atom-count"),
    Input("viewer-state", "data"),
    Input("atom-color-by", "value"),
    State(state.FEATURES, "data"),
)
def on_view(viewer_state, atom_color_by, features_state):
    if not viewer_state:
        return message(HINT).outputs()
    cutoff = (features_state or {}).get("hypers", {}).get("cutoff")
    try:
        view = structure_view(state.current_store(), viewer_state["dataset"], viewer_state["per"], viewer_state["row"], cutoff,
                              atom_color_by)
    except (UnknownIdError, IndexError, KeyError) as error:
        view = message(f"Cannot show this point: {error}")
    return view.outputs()


@callbacks.server(
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
