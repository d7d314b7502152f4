"""Upload a dataset and see what is in it: counts, elements, periodicity, the property table."""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pandas as pd
import dash_ag_grid as dag
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from compute.datasets import Dataset, DatasetError

from .. import state
from ..store import Store, UnknownIdError

SUPPORTED = "extended XYZ, CIF, POSCAR/CONTCAR, ASE .traj/.db, chemiscope JSON, features CSV/NPZ"


def layout(max_upload_bytes: int) -> html.Div:
    return html.Div(
        [
            dcc.Store(id="upload-limit", data=int(max_upload_bytes)),
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
        dag.AgGrid(
            id="property-table",
            rowData=[],
            columnDefs=[],
            defaultColDef={"sortable": True, "filter": True, "resizable": True, "minWidth": 90},
            dashGridOptions={"pagination": True, "paginationPageSize": 20, "animateRows": False},
            style={"height": "420px"},
            className="ag-theme-alpine",
        ),
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


def accept_upload(store: Store, contents: str, filename: str, max_bytes: int) -> tuple[dict, str]:
    """Keep a valid upload and return (dataset state, status message); DatasetError otherwise.

    ``filename`` is only a display name and a format hint: it never becomes a path.
    """
    data = decode_upload(contents, filename)
    dataset_id = store.add_dataset(data, filename, max_bytes=max_bytes)
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
            [html.Li([html.Span(label, className="label"), html.Span(value, className="value")], id=f"summary-{label.lower()}")
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
    columns = [{"headerName": "#", "field": "row", "type": "numericColumn", "width": 80}]
    records = {"row": np.arange(len(head)).tolist()}
    for k, column in enumerate(head.columns):
        key = f"c{k}"
        series = head[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            values = series.to_numpy(dtype=float)
            records[key] = [None if not np.isfinite(v) else float(f"{v:.8g}") for v in values]
            columns.append({"headerName": str(column), "field": key, "type": "numericColumn", "filter": "agNumberColumnFilter"})
        else:
            records[key] = series.astype("string").fillna("").tolist()
            columns.append({"headerName": str(column), "field": key})
    rows = [dict(zip(records, values)) for values in zip(*records.values())]
    return rows, columns


# -- callbacks -------------------------------------------------------------------------------------


@callback(
    Output(state.DATASET, "data"),
    Output("status-message", "children"),
    Input("upload-dataset", "contents"),
    State("upload-dataset", "filename"),
    prevent_initial_call=True,
)
def on_upload(contents, filename):
    if not contents:
        return no_update, no_update
    filename = str(filename or "upload")
    settings = state.current_settings()
    try:
        dataset_state, message = accept_upload(state.current_store(), contents, filename, settings.max_upload_bytes)
    except DatasetError as error:
        # the dataset shown before stays: only the message changes
        return no_update, f"Could not open {filename}: {error}"
    return dataset_state, message


@callback(
    Output("dataset-summary", "children"),
    Output("property-table", "rowData"),
    Output("property-table", "columnDefs"),
    Input(state.DATASET, "data"),
)
def on_dataset(dataset_state):
    try:
        dataset = state.current_store().dataset(dataset_state["id"])
    except (UnknownIdError, TypeError, KeyError):
        return html.Div("No dataset open."), [], []
    data, columns = table_data(dataset.structure_properties)
    return summary_children(dataset), data, columns


# A file far above the limit never reaches the server (Flask answers 413 to the callback's
# request), so the browser says so itself; files near the limit get the reader's message.
clientside_callback(
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
    State("upload-limit", "data"),
    prevent_initial_call=True,
)
