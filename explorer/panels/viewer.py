"""The structure behind a clicked map point: a 3D view and the structure's properties.

The container ``structure-viewer`` carries ``data-structure-index`` and ``data-atom-count`` of
what it shows (the contract scripts and tests read); it is rebuilt whole inside the wrapper.
"""

from __future__ import annotations

import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from .. import figures, state
from ..rows import map_rows
from ..store import Store, UnknownIdError


def layout() -> html.Div:
    return html.Div(
        [
            html.H4("Structure"),
            html.Label(["colour atoms by", dcc.Dropdown(id="atom-color-by", options=[], value=None, placeholder="(element)")], className="field"),
            html.Div(viewer_container(None, None, html.P("Click a point of the map to see its structure.", className="hint")),
                     id="structure-viewer-wrapper"),
            dcc.Store(id="viewer-state"),
        ],
        className="panel viewer-panel",
    )


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
    properties = dataset.structure_properties.iloc[structure]
    table = html.Table(
        html.Tbody([html.Tr([html.Th(str(name)), html.Td(_value_text(value))]) for name, value in properties.items()]),
        className="structure-properties",
    )
    return viewer_container(structure, len(atoms), [
        dcc.Graph(figure=figure, className="structure-graph", config={"displaylogo": False}),
        table,
    ])


@callback(
    Output("viewer-state", "data"),
    Input("map-graph", "clickData"),
    State(state.MAP, "data"),
    prevent_initial_call=True,
)
def on_click(click, map_state):
    if not click or not click.get("points") or not map_state:
        return no_update
    point = click["points"][0]
    if point.get("customdata") is None:
        return no_update
    return {"row": int(point["customdata"][0]), "dataset": map_state["dataset"], "per": map_state["per"]}


@callback(
    Output("structure-viewer-wrapper", "children"),
    Input("viewer-state", "data"),
    Input("atom-color-by", "value"),
    State(state.FEATURES, "data"),
)
def on_view(viewer_state, atom_color_by, features_state):
    if not viewer_state:
        return no_update
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
