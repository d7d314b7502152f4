"""Upload a dataset and see what is in it: counts, elements, periodicity, the property table.

The table is linked to the map: a click on a row shows that structure (``explorer.panels.viewer``),
the map's selection is highlighted in it (or is all it shows, with "only the selection"), and
"Select the rows shown" makes the rows left by the table's column filters (a property range,
a category) the selection.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pandas as pd
import dash_ag_grid as dag
from dash import Input, Output, State, dcc, html, no_update

from compute.datasets import Dataset, DatasetError

from .. import messages, state
from ..rows import map_rows, property_columns
from ..security import current_session
from ..store import Store, UnknownIdError

from ._callbacks import Callbacks

callbacks = Callbacks()
register = callbacks.register  # explorer.panels.register(app) calls it

#: most selected structures highlighted in the property table
MAX_HIGHLIGHTED_ROWS = 1_000
SUPPORTED = "extended XYZ, CIF, POSCAR/CONTCAR, ASE .traj/.db, chemiscope JSON, features CSV/NPZ"


def layout(max_upload_bytes: int) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="dataset-upload-limit", data=int(max_upload_bytes)),
            dcc.Upload(
                id="upload-dataset",
                children=html.Div(["Drop a file here or ", html.A("choose one")]),
                className="upload-area",
                multiple=False,
            ),
            html.Div(f"Formats: {SUPPORTED}", className="hint"),
            html.Div(id="dataset-summary", className="dataset-summary"),
        ],
        className="panel",
    )


def property_table() -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    dcc.Checklist(id="dataset-table-only-selected", options=[{"label": "only the selection", "value": "only"}], value=[],
                                  inline=True),
                    html.Button("Select the rows shown", id="dataset-select-rows", n_clicks=0, className="button",
                                title="Make the rows left by the table's filters (e.g. a property range) the map's selection"),
                    html.Span("Click a row to see its structure; filter a column (≡ in its header) to select by property.",
                              className="hint"),
                ],
                className="button-row",
            ),
            dag.AgGrid(
                id="dataset-property-table",
                rowData=[],
                columnDefs=[],
                getRowId="params.data.id",
                defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
                dashGridOptions={
                    "pagination": True, "paginationPageSize": 20, "animateRows": False,
                    "suppressColumnVirtualisation": True,  # every column in the page (a few dozen at most)
                    # selected rows are the map's selection, set from the server; clicks show structures
                    "rowSelection": {"mode": "multiRow", "checkboxes": False, "headerCheckbox": False, "enableClickSelection": False},
                },
                style={"height": "420px"},
                className="ag-theme-alpine",
            ),
        ],
        className="property-table-wrapper",
    )


# -- logic -----------------------------------------------------------------------------------------


def decode_upload(contents: str, filename: str) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL; DatasetError naming the file when it is not one."""
    try:
        _, encoded = contents.split(",", 1)
        return base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error, AttributeError):
        raise DatasetError(f"{filename}: the upload arrived damaged (not a base64 data URL); try again") from None


def accept_upload(store: Store, contents: str, filename: str, max_bytes: int, session: str | None = None) -> tuple[dict, str]:
    """Keep a valid upload and return (dataset state, status message); DatasetError otherwise.
    The id is browser session ``session``'s own (see :mod:`explorer.store`).

    ``filename`` is only a display name and a format hint: it never becomes a path.
    """
    data = decode_upload(contents, filename)
    dataset_id = store.add_dataset(data, filename, max_bytes=max_bytes, session=session)
    dataset = store.dataset(dataset_id)
    return {"id": dataset_id, "name": dataset.name}, f"Opened {dataset.name}: {describe(dataset)}."


def describe(dataset: Dataset) -> str:
    if dataset.structures is None:
        return f"features table, {dataset.n_structures:,} rows × {dataset.features.shape[1]:,} features"
    return f"{dataset.n_structures:,} structures, {dataset.n_atoms:,} atoms ({', '.join(dataset.elements)})"


def summary_children(dataset: Dataset) -> list:
    stats = [("Structures" if dataset.structures is not None else "Rows", f"{dataset.n_structures:,}")]
    if dataset.structures is not None:
        stats += [
            ("Atoms", f"{dataset.n_atoms:,}"),
            ("Elements", ", ".join(dataset.elements)),
            ("Periodic", dataset.periodic),
        ]
    else:
        stats.append(("Features", f"{dataset.features.shape[1]:,}"))
    if dataset.environments is not None:
        stats.append(("Environments", f"{len(dataset.environments):,}"))
    return [
        html.H3(dataset.name, id="dataset-name"),
        html.Ul(
            [html.Li([html.Span(label, className="label"), html.Span(value, className="value")], id=f"dataset-summary-{label.lower()}")
             for label, value in stats],
            className="summary-stats",
        ),
    ]


def table_data(table: pd.DataFrame, max_rows: int = 20_000) -> tuple[list[dict], list[dict]]:
    """Rows and column definitions for the grid: NaN shown as empty, numbers sorted as numbers.

    Column ids are positional (``c0``, ``c1``...) so property names with dots or brackets
    (``forces[1]``) are safe as grid field names.
    """
    head = table.head(max_rows)
    # cellDataType is explicit: the grid would otherwise keep a type it inferred for a column of
    # the previous dataset (text shown as "Invalid Number" after switching datasets)
    columns = [{"headerName": "#", "field": "row", "type": "numericColumn", "cellDataType": "number", "width": 80}]
    records = {"row": np.arange(len(head)).tolist()}
    for k, column in enumerate(head.columns):
        key = f"c{k}"
        series = head[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float)
            records[key] = [None if not np.isfinite(v) else float(f"{v:.8g}") for v in values]
            columns.append({"headerName": str(column), "field": key, "type": "numericColumn", "filter": "agNumberColumnFilter",
                            "cellDataType": "number"})
        else:
            records[key] = series.astype("string").fillna("").tolist()
            columns.append({"headerName": str(column), "field": key, "cellDataType": "text", "filter": "agTextColumnFilter"})
    records["id"] = [str(r) for r in records["row"]]  # the grid's row id (a string), for clicks and selection
    rows = [dict(zip(records, values)) for values in zip(*records.values())]
    return rows, columns


# -- callbacks -------------------------------------------------------------------------------------


@callbacks.server(
    Output(state.DATASET, "data"),
    Input("upload-dataset", "contents"),
    State("upload-dataset", "filename"),
    prevent_initial_call=True,
)
def on_upload(contents, filename):
    if not contents:
        return no_update
    filename = str(filename or "upload")
    settings = state.current_settings()
    store = state.current_store()
    try:
        dataset_state, message = accept_upload(store, contents, filename, settings.max_upload_bytes, current_session())
    except DatasetError as error:
        # the dataset shown before stays: only the message changes
        reason = str(error).removeprefix(f"{filename}: ")  # the file is named once
        messages.say(messages.error(f"Could not open {filename}: {reason}"))
        return no_update
    messages.say(message)
    return dataset_state


def selected_structures(store: Store, features_state: dict | None, selection: dict | None) -> list[int]:
    """The structures (table rows) of the selected map rows, in order."""
    rows = (selection or {}).get("rows") or []
    if not rows or not features_state:
        return []
    if features_state.get("per") != "atom":
        return sorted({int(r) for r in rows})
    map_structures = map_rows(store.dataset(features_state["dataset"]), "atom").structure
    rows = np.asarray(rows, dtype=np.int64)
    rows = rows[(rows >= 0) & (rows < len(map_structures))]
    return sorted(set(map_structures[rows].tolist()))


def rows_of_structures(store: Store, features_state: dict, structures) -> list[int]:
    """The map rows of some structures: themselves, or all their environments in per-atom mode."""
    structures = np.unique(np.asarray([int(s) for s in structures], dtype=np.int64))
    if features_state.get("per") != "atom":
        return structures[(structures >= 0) & (structures < int(features_state.get("n_rows", 0)))].tolist()
    map_structures = map_rows(store.dataset(features_state["dataset"]), "atom").structure
    return np.flatnonzero(np.isin(map_structures, structures)).tolist()


@callbacks.server(
    Output("dataset-summary", "children"),
    Output("dataset-property-table", "rowData"),
    Output("dataset-property-table", "columnDefs"),
    Output("dataset-property-table", "selectedRows"),
    Input(state.DATASET, "data"),
    Input("dataset-table-only-selected", "value"),
    Input(state.SELECTION, "data"),
    State(state.FEATURES, "data"),
)
def on_dataset(dataset_state, only_selected, selection, features_state):
    only = "only" in (only_selected or [])
    rows_too = state.triggered() != {state.SELECTION} or only  # else the grid keeps its rows, sorting and filters
    view = dataset_view(state.current_store(), dataset_state, features_state, selection, only=only, rows_too=rows_too)
    return view if rows_too else (no_update, no_update, no_update, view[3])


def dataset_view(store: Store, dataset_state, features_state, selection, *, only: bool = False, rows_too: bool = True):
    """(summary, table rows, table columns, the grid's selected rows) of the open dataset;
    ``only``: the table lists the selected structures only."""
    try:
        dataset = store.dataset(dataset_state["id"])
    except (UnknownIdError, TypeError, KeyError):
        return html.Div("No dataset open."), [], [], []
    current = features_state if features_state and features_state.get("dataset") == dataset_state["id"] else None
    try:
        chosen = selected_structures(store, current, selection)
    except UnknownIdError:
        chosen = []
    # the grid selects rows one by one (slow for thousands: seconds at 2,500 of 10,000); larger
    # selections are listed with "only the selection" instead of highlighted
    selected_rows = {"ids": [str(s) for s in chosen]} if len(chosen) <= MAX_HIGHLIGHTED_ROWS else {"ids": []}
    if not rows_too:
        return None, None, None, selected_rows
    table = dataset.structure_properties
    data, columns = table_data(table[property_columns(table)])
    if only:
        keep = set(chosen)
        data = [record for record in data if record["row"] in keep]
    return summary_children(dataset), data, columns, selected_rows


@callbacks.server(
    Output(state.SELECTION, "data", allow_duplicate=True),
    Input("dataset-select-rows", "n_clicks"),
    State("dataset-property-table", "virtualRowData"),
    State(state.FEATURES, "data"),
    State(state.DATASET, "data"),
    prevent_initial_call=True,
)
def on_select_table_rows(_clicks, shown, features_state, dataset_state):
    """The rows the table shows after its filters become the selection."""
    if not features_state or not dataset_state or features_state.get("dataset") != dataset_state.get("id"):
        messages.say(messages.error("No map yet: wait for it to be drawn, then select"))
        return no_update
    structures = [record["row"] for record in (shown or []) if isinstance(record, dict) and isinstance(record.get("row"), int)]
    if not structures:
        messages.say(messages.error("The table shows no rows: loosen its filters"))
        return no_update
    try:
        rows = rows_of_structures(state.current_store(), features_state, structures)
    except UnknownIdError as error:
        messages.say(messages.error(f"No selection made: {error}"))
        return no_update
    messages.say(f"Selected the {len(structures):,} structures the table shows.")
    return {"rows": rows, "source": "table filter"}


# A file far above the limit never reaches the server (Flask answers 413 to the callback's
# request), so the browser says so itself; files near the limit get the reader's message.
callbacks.clientside(
    """
    function(contents, filename, limit) {
        if (!contents || !limit) { return window.dash_clientside.no_update; }
        const bytes = Math.floor((contents.length - contents.indexOf(',') - 1) * 3 / 4);
        if (bytes <= limit) { return window.dash_clientside.no_update; }
        const mb = (n) => (n / 1048576).toFixed(1);
        return `Could not open ${filename}: the file is ${mb(bytes)} MB, above this server's upload limit of ${mb(limit)} MB (--max-upload-mb). The dataset shown before stays.`;
    }
    """,
    Output("status-message", "children", allow_duplicate=True),
    Input("upload-dataset", "contents"),
    State("upload-dataset", "filename"),
    State("dataset-upload-limit", "data"),
    prevent_initial_call=True,
)
